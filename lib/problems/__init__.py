"""The problems and their exact answers: environments equal to gymnasium's, finite MDPs, the LQR."""
