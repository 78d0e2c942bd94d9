import sys

from art_bmtad.cli import main

sys.exit(main())
