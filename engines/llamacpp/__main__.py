import sys

from tuneops.engines.llamacpp.launcher import main

sys.exit(main())
