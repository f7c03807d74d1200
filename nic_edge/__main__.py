import sys

from nic_edge.cli.edge import main

sys.exit(main())
