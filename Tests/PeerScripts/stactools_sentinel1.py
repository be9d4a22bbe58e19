"""stactools-sentinel1 items for SAFE folders (GRD or SLC, by the folder's name), one JSON line each."""
import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")
from stactools.sentinel1.grd.stac import create_item as create_grd  # noqa: E402
from stactools.sentinel1.slc.stac import create_item as create_slc  # noqa: E402

for path in sys.argv[1:]:
    try:
        create = create_slc if "_SL" in os.path.basename(path.rstrip("/")) else create_grd
        item = create(path)
        print(json.dumps({"input": path, "item": item.to_dict(include_self_link=False)}))
    except Exception as e:
        print(json.dumps({"input": path, "error": f"{type(e).__name__}: {e}"}))
