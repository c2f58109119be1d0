"""A module whose import registers an exit handler writing the file named by $SHIPPER_TEST_ATEXIT_MARK: preloaded
by the parse workers' forkserver, the file says that the forkserver ran its interpreter's teardown at its end."""
import atexit
import os

_mark = os.environ.get("SHIPPER_TEST_ATEXIT_MARK")
if _mark:
    atexit.register(lambda: open(_mark, "w").close())
