import sys

from cxlib.cli import main

sys.exit(main())
