"""`rsuv.install()`, then uvicorn's own command line with `--loop none` (uvicorn then takes
the policy's loop): the way to select rsuv on a uvicorn without `--loop module:factory`."""
import sys

import rsuv
import uvicorn.main

rsuv.install()
sys.exit(uvicorn.main.main())
