"""Plant the bugs of `tools/mutant_table.py` in `lib`, one at a time, and see what catches each one.

    python -m tools.mutants                      # every bug, at HEAD (about 40 minutes with --jobs 2)
    python -m tools.mutants --jobs 2             # two bugs at a time
    python -m tools.mutants --only TD3 td3_one_critic   # bugs whose box or name contains a word; merged
    python -m tools.mutants --tests-only         # the unit tests alone, not the pages
    python -m tools.mutants --commit fe96289 --output checking/before.json   # another commit
    python -m tools.mutants --render             # rewrite checking/report.md from checking/report.json

For each bug, a copy of the repository at the commit (`git archive`, so uncommitted work is not in
it) gets the bug, and two things run there with PYTHONPATH = the copy (it wins over the editable
install of /work/main; the harness checks that `lib` imports from the copy):
  (a) the unit tests that cover the box (`BOXES[box].tests`, `pytest -x`): caught if one fails;
  (b) the box's pages as CI checks them (`pytest -x chapters/NN.ipynb ...`, nbval): the page of the
      chapter that teaches the box, and those of the chapters that use its functions too
      (`BOXES[box].pages`); caught if a check raises or a stored output changes on any of them.
Before the bugs, the same two run on the unplanted copy (the baseline): a box whose tests, or one of
whose pages, fails there would count every bug as caught, so its bugs are marked invalid. A bug marked
`equivalent` in the table (it computes the same thing) is not planted: the page lists it with the reason.
Children run under `nice -n 10`. Results go to checking/report.json (merged by bug name with what
is there, so `--only` re-measures some rows) and checking/report.md, the site's page "How the
pages are checked", is written from them: never edit it by hand.

Why a hand-written table and not mutmut or cosmic-ray: those tools generate thousands of operator
swaps (`+` to `-`, `<` to `<=`) over every line, most of them in input checks, plotting and
bookkeeping that no page is meant to check, many equivalent; a run would take days here (each
mutant re-runs a chapter) and the result could not be read as a list of mistakes. The table names
the mistakes a reader of the book would make in each box (the missing discount, the target from the
online network, the one critic in place of the twin minimum), one line each, which is what the page
shows readers and instructors; and each entry pins the exact text it changes, so it cannot drift
silently when the code moves.
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

from tools.mutant_table import BOXES, BUGS

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "checking"
WORK = pathlib.Path(tempfile.gettempdir()) / "mutants"
TIMEOUT_S = 1200  # one pytest run; a run that takes longer is recorded as a timeout
TARGET_TESTS, TARGET_PAGE = 1.0, 0.9  # the kill-rate targets


# ------------------------------------------------------------------ copies and planting
def resolve(commit):
    return subprocess.run(
        ["git", "rev-parse", commit], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def base_copy(commit):
    """The repository at `commit`, extracted once under WORK (git archive: tracked files only)."""
    base = WORK / commit[:12] / "base"
    if not (base / "lib").is_dir():
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
    return base


def plant(bug, base, where):
    """A copy of `base` at `where` (hard links) with `bug` applied; ValueError if its text moved."""
    shutil.rmtree(where, ignore_errors=True)
    subprocess.run(["cp", "-al", str(base), str(where)], check=True)
    target = where / bug.file
    source = target.read_text()
    count = source.count(bug.old)
    if count != 1:
        raise ValueError(f"{bug.name}: the text to change occurs {count} times in {bug.file} (expected once)")
    mutated = source.replace(bug.old, bug.new)
    if mutated == source:
        raise ValueError(f"{bug.name}: old and new are the same text")
    fresh = target.with_suffix(".mutant")
    fresh.write_text(mutated)
    os.replace(fresh, target)  # a new file: the hard link to the base copy is broken, not written through
    return where


def child_env(copy):
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    env.pop("XLA_FLAGS", None)
    return env


def check_import(copy):
    """`lib` must import from the copy, not from the editable install of the working tree."""
    out = subprocess.run(
        [sys.executable, "-c", "import lib; print(lib.__file__)"],
        cwd=copy,
        env=child_env(copy),
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not out.startswith(str(copy)):
        raise RuntimeError(f"lib imports from {out!r}, not from the copy {copy}")


# ------------------------------------------------------------------ running and reading pytest
def run_pytest(copy, targets, log):
    """Run pytest -x on `targets` in the copy; return {caught, by, reason, seconds}."""
    command = ["nice", "-n", "10", sys.executable, "-m", "pytest", "-p", "no:xdist", "-x", "-q", "-rfE", *targets]
    start = time.monotonic()
    try:
        done = subprocess.run(command, cwd=copy, env=child_env(copy), capture_output=True, text=True, timeout=TIMEOUT_S)
        output, code = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as timeout:
        output, code = (timeout.stdout or b"").decode(errors="replace"), None
    seconds = round(time.monotonic() - start, 1)
    log.write_text(output)
    if code is None:
        return {"caught": None, "by": None, "reason": f"timed out after {TIMEOUT_S} s", "seconds": seconds}
    if code == 0:
        return {"caught": False, "by": None, "reason": None, "seconds": seconds}
    failed = re.search(r"^(?:FAILED|ERROR) (\S+(?: \d+)?)(?: - (.*))?$", output, re.MULTILINE)
    if code in (1, 2) and failed:
        return {"caught": True, "by": failed.group(1), "reason": _reason(output, failed), "seconds": seconds}
    return {"caught": None, "by": None, "reason": f"pytest exit code {code}: {output[-300:]}", "seconds": seconds}


ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the colours of IPython's tracebacks in nbval's report


def _reason(output, failed):
    """What failed, in one line: a check's label, nbval's 'a stored output changed', or the assertion."""
    output = ANSI.sub("", output)
    label = re.search(r"AssertionError: (FAILED: .*)", output)
    if label:
        return label.group(1).strip()[:200]
    if "Cell outputs differ" in output:
        return "a stored output changed"
    assertion = [line.strip() for line in re.findall(r"^E[ \t]+(\S.*)$", output, re.MULTILINE)[:3]]
    if assertion:
        return " ".join(assertion)[:200]
    error = re.findall(r"^(\w*(?:Error|Exception)\b:? .*)$", output, re.MULTILINE)
    if error:
        return error[-1].strip()[:200]
    return ANSI.sub("", failed.group(2) or "failed").strip()[:200]


def page_target(chapter):
    return f"chapters/{chapter}.ipynb"


def cell_label(copy, by):
    """The first line of the code cell nbval names `by` ('chapters/x.ipynb::Cell 12')."""
    match = re.search(r"^(chapters/[^:]+\.ipynb)::Cell (\d+)$", by or "")
    if not match:
        return None
    import nbformat

    notebook = nbformat.read(str(copy / match.group(1)), as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    lines = [line for line in code[int(match.group(2))].source.splitlines() if line.strip()]
    return lines[0][:120] if lines else None


# ------------------------------------------------------------------ one bug, the baseline, the run
def measure_bug(bug, base, work, tests_only, stored_tests=None):
    """The bug's row: its unit tests' result (or `stored_tests`, measured before at this commit) and its pages'."""
    copy = plant(bug, base, work / bug.name)
    box = BOXES[bug.box]
    logs = work / "logs"
    row = {
        "name": bug.name,
        "box": bug.box,
        "chapter": box.chapter,
        "description": bug.description,
        "file": bug.file,
        "old": bug.old,
        "new": bug.new,
    }
    row["tests"] = stored_tests or run_pytest(copy, list(box.tests), logs / f"{bug.name}.tests.log")
    if not tests_only:
        row["page"] = run_pytest(copy, [page_target(chapter) for chapter in box.pages], logs / f"{bug.name}.page.log")
        row["page"]["cell"] = cell_label(copy, row["page"]["by"])
    shutil.rmtree(copy, ignore_errors=True)
    return row


def measure_baseline(base, work, chapters, boxes, tests_only, jobs):
    """The unplanted copy: every selected box's tests (one run) and every selected chapter's page."""
    check_import(base)
    logs = work / "logs"
    tests = sorted({test for name in boxes for test in BOXES[name].tests})
    jobs_list = [("tests", tests)] + ([] if tests_only else [(chapter, [page_target(chapter)]) for chapter in chapters])
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        runs = pool.map(lambda item: (item[0], run_pytest(base, item[1], logs / f"baseline.{item[0]}.log")), jobs_list)
        return dict(runs)


def selected(words):
    """The bugs to plant: every one not marked equivalent, or those whose box or name has one of `words`."""
    bugs = [bug for bug in BUGS if not bug.equivalent]
    if not words:
        return bugs
    return [bug for bug in bugs if any(w.lower() in (bug.box + " " + bug.name).lower() for w in words)]


def run(commit, bugs, jobs, tests_only, output, pages_only=False):
    start = time.monotonic()
    commit = resolve(commit)
    base = base_copy(commit)
    work = WORK / commit[:12]
    (work / "logs").mkdir(parents=True, exist_ok=True)
    for bug in bugs:  # every text must be there before anything runs
        count = (base / bug.file).read_text().count(bug.old) if (base / bug.file).is_file() else 0
        if count != 1:
            elsewhere = [
                str(p.relative_to(base)) for p in sorted((base / "lib").rglob("*.py")) if bug.old in p.read_text()
            ]
            raise SystemExit(
                f"{bug.name}: the text to change occurs {count} times in {bug.file} at {commit[:12]}"
                + (f"; it is in {', '.join(elsewhere)}" if elsewhere else "")
                + ": update tools/mutant_table.py"
            )
    boxes = sorted({bug.box for bug in bugs})
    chapters = sorted({chapter for box in boxes for chapter in BOXES[box].pages})
    print(f"{len(bugs)} bugs in {len(boxes)} boxes at {commit[:12]}; baseline first", flush=True)
    baseline = measure_baseline(base, work, chapters, boxes, tests_only, jobs)
    for name, result in baseline.items():
        print(f"  baseline {name}: {'FAILS' if result['caught'] else 'passes'} ({result['seconds']} s)", flush=True)
    report = load(output) if output.exists() else {"bugs": []}
    if report.get("commit") != commit:
        report = {"bugs": []}
    rows = {row["name"]: row for row in report["bugs"]}

    if pages_only:  # the unit tests' results stored for this commit stand; only the pages are measured
        missing = [bug.name for bug in bugs if "tests" not in rows.get(bug.name, {})]
        if missing:
            raise SystemExit(f"--pages-only: no stored unit-test result at {commit[:12]} for {', '.join(missing)}")

    def one(bug):
        row = measure_bug(bug, base, work, tests_only, rows[bug.name]["tests"] if pages_only else None)
        if baseline["tests"]["caught"] is not False:
            row["tests"]["invalid"] = "the unit tests fail (or error) without the bug"
        if not tests_only and any(baseline[chapter]["caught"] is not False for chapter in BOXES[bug.box].pages):
            row["page"]["invalid"] = "a page of the box fails (or errors) without the bug"
        return row

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        for row in pool.map(one, bugs):
            rows[row["name"]] = row
            page = row.get("page", {})
            print(
                f"  {row['name']:<45} tests {_word(row['tests'])} ({row['tests']['seconds']} s)"
                + (f", page {_word(page)} ({page['seconds']} s)" if page else ""),
                flush=True,
            )
            report.update(
                commit=commit,
                measured_at=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                bugs=[rows[b.name] for b in BUGS if b.name in rows and not b.equivalent],
            )
            save(report, output)
    report["baseline"] = {**report.get("baseline", {}), **baseline}
    report["last_run"] = {"bugs": len(bugs), "jobs": jobs, "wall_s": round(time.monotonic() - start)}
    save(report, output)
    shutil.rmtree(base, ignore_errors=True)
    return report


def _word(result):
    return {True: "caught", False: "MISSED", None: "ERROR"}[result["caught"]]


def load(path):
    return json.loads(pathlib.Path(path).read_text())


def save(report, path):
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(path).write_text(json.dumps(report, indent=1) + "\n")


# ------------------------------------------------------------------ the page
EQUIVALENT = {bug.name: bug for bug in BUGS if bug.equivalent}  # listed with their reason, never counted
FILES = {bug.name: bug.file for bug in BUGS}  # where each bug is now: lib's files may have moved since a run


def counted(report):
    """The report's rows, less those of bugs the table now marks equivalent (an older run may hold them)."""
    return [row for row in report["bugs"] if row["name"] not in EQUIVALENT]


def kill_rates(report):
    """{chapter: (planted, caught by tests, caught by the box's pages)}, in chapter order."""
    rates = {}
    for row in counted(report):
        planted, tests, page = rates.get(row["chapter"], (0, 0, 0))
        rates[row["chapter"]] = (
            planted + 1,
            tests + bool(row["tests"]["caught"]),
            page + bool(row.get("page", {}).get("caught")),
        )
    return dict(sorted(rates.items()))


def _plain(text):
    """Text for a Markdown table cell, read literally: one line, every character that Markdown or MyST
    could read as syntax (pipes, dollars, emphasis, roles, HTML) escaped."""
    text = " ".join(part.strip() for part in str(text).splitlines())
    return re.sub(r"([\\|$*_<>\[\]`{}#~^])", r"\\\1", text)


def _test_name(node_id):
    """'tests/test_fqi.py::test_a_b' as 'test_fqi: a b', which can wrap."""
    path, _, name = node_id.partition("::")
    name = name.removeprefix("test_").replace("_", " ")
    return _plain(f"{pathlib.Path(path).stem}: {name}" if name else path)


def _caught_by(result, page=False, box=None):
    if result is None:
        return "not run"
    if result.get("invalid"):
        return "invalid: " + _plain(result["invalid"])
    if result["caught"] is None:
        return "error: " + _plain((result["reason"] or "")[:120])
    if not result["caught"]:
        return "**missed**"
    if not page:
        return _test_name(result["by"])
    path, _, where = result["by"].rpartition("::")
    if box is not None and path != page_target(BOXES[box].chapter):
        where = f"chapter {pathlib.Path(path).stem[:2]}, {where}"  # another page that uses the box's functions
    if result.get("cell"):
        where += " (" + result["cell"][:60] + ")"
    return _plain(f"{where}: {result['reason']}")


def _percent(part, whole):
    return f"{100 * part / whole:.0f}%" if whole else "-"


def _rate_rows(report):
    rates = kill_rates(report)
    total = [sum(values) for values in zip(*rates.values())] if rates else [0, 0, 0]
    rows = ["| chapter | bugs planted | caught by the unit tests | caught by the page |", "|---|---|---|---|"]
    for chapter, (planted, tests, page) in [*rates.items(), ("all", total)]:
        rows.append(
            f"| {_plain(chapter)} | {planted} | {tests} ({_percent(tests, planted)}) | {page} ({_percent(page, planted)}) |"
        )
    return rows


def render(report, before=None):
    lines = [
        "# How the pages are checked",
        "",
        "Every page promises that its claims are checked. This page shows what those checks catch: the",
        "harness `python -m tools.mutants` plants one plausible bug at a time in `lib` (in a copy of the",
        "repository, never the working tree), then runs the unit tests that cover the box and the",
        "chapter's page as CI checks it (nbval re-runs the stored notebook: the page catches the bug if a",
        "check raises or a stored output changes), with the pages of other chapters that use the box's",
        "functions (a ground truth such as the Riccati solution is checked wherever it is used). The bugs,",
        "with the exact change each one makes, are listed in `tools/mutant_table.py`: read them as a list",
        "of mistakes to avoid. Targets: every bug that changes what the code computes caught by the unit",
        f"tests, and at least {TARGET_PAGE:.0%} of them by the pages of their box; a bug that computes the same",
        "thing is not planted, and is listed below with the reason.",
        "`tests/test_mutants.py` keeps one bug per box in CI (each box where a unit test catches one): the",
        "unit test named there must fail under it.",
        "",
        f"Written by `python -m tools.mutants` from `checking/report.json`, never by hand: measured at commit "
        f"`{report.get('commit', '?')[:12]}`, {report.get('measured_at', '?')}"
        + (
            f" (its last run: {report['last_run']['bugs']} bugs, {report['last_run']['jobs']} at a time, "
            f"{report['last_run']['wall_s'] / 60:.0f} minutes)."
            if "last_run" in report
            else "."
        ),
        "",
        "## Kill rates by chapter",
        "",
        *_rate_rows(report),
    ]
    if before and before.get("commit") != report.get("commit"):
        lines += [
            "",
            f"Before the pages' checks were strengthened (commit `{before['commit'][:12]}`, "
            f"{before.get('measured_at', '?')}):",
            "",
            *_rate_rows(before),
        ]
    survivors = [row for row in counted(report) if row.get("page", {}).get("caught") is False]
    lines += ["", "## Bugs the page does not catch", ""]
    if survivors:
        lines += ["| box | bug | the mistake |", "|---|---|---|"]
        lines += [
            f"| {_plain(row['box'])} | {_plain(row['name'])} | {_plain(row['description'])} |" for row in survivors
        ]
    else:
        lines.append("None: every planted bug makes a page of its box fail.")
    lines += ["", "## Bugs that compute the same thing (not planted, not counted)", ""]
    if EQUIVALENT:
        lines += ["| box | bug | why it computes the same thing |", "|---|---|---|"]
        lines += [
            f"| {_plain(bug.box)} | {_plain(bug.name)} | {_plain(bug.equivalent)} |" for bug in EQUIVALENT.values()
        ]
    else:
        lines.append("None.")
    lines += ["", "## Every bug, box by box", ""]
    for box in BOXES:
        rows = [row for row in counted(report) if row["box"] == box]
        if not rows:
            continue
        also = BOXES[box].also_on
        lines += [
            f"### {_plain(box)}",
            "",
            f"Taught in chapter {BOXES[box].chapter[:2]}"
            + (
                f"; its functions are used on the page{'s' * (len(also) > 1)} of chapter{'s' * (len(also) > 1)} "
                + ", ".join(c[:2] for c in also)
                + " too"
                if also
                else ""
            )
            + "; the bugs change "
            + ", ".join(sorted({f"`{FILES.get(row['name'], row['file'])}`" for row in rows}))
            + ".",
            "",
            "| the mistake | caught by the unit tests | caught by the page |",
            "|---|---|---|",
        ]
        for row in rows:
            lines.append(
                f"| {_plain(row['description'])} ({_plain(row['name'])}) | {_caught_by(row['tests'])} "
                f"| {_caught_by(row.get('page'), page=True, box=box)} |"
            )
        lines += [
            f"| {_plain(bug.description)} ({_plain(bug.name)}) | equivalent: not planted | equivalent: not planted |"
            for bug in EQUIVALENT.values()
            if bug.box == box
        ]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_page(report_path=OUT / "report.json", page_path=OUT / "report.md"):
    before_path = OUT / "before.json"
    before = load(before_path) if before_path.exists() else None
    page_path.write_text(render(load(report_path), before))
    return page_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1, help="bugs measured at once (each runs one pytest at a time)")
    parser.add_argument("--only", nargs="+", help="only bugs whose box or name contains one of these words")
    parser.add_argument("--tests-only", action="store_true", help="run the unit tests, not the pages")
    parser.add_argument(
        "--pages-only", action="store_true", help="run the pages, keeping the unit tests' results stored for the commit"
    )
    parser.add_argument("--commit", default="HEAD", help="the commit to plant the bugs in (default HEAD)")
    parser.add_argument("--output", type=pathlib.Path, default=OUT / "report.json")
    parser.add_argument("--render", action="store_true", help="only rewrite checking/report.md from the JSON")
    args = parser.parse_args(argv)
    if not args.render:
        bugs = selected(args.only)
        if not bugs:
            raise SystemExit(f"no bug matches {args.only}")
        report = run(args.commit, bugs, args.jobs, args.tests_only, args.output, args.pages_only)
        print(f"done in {report['last_run']['wall_s']} s", flush=True)
    if args.output == OUT / "report.json":
        print(f"wrote {write_page()}")


if __name__ == "__main__":
    main()
