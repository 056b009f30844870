"""``python -m experiments.compare <run dirs>``: one HTML report across runs."""

import sys

from experiments.compare import main

sys.exit(main())
