"""The benchmark's reference: stactools create_item + pystac save_object over the inputs,
round-robin, to N records. argv: OUT N INPUT... (an MTL path or a .SAFE folder each).
Prints {"records", "seconds", "peak_rss_kib"} as one JSON line."""
import json
import os
import resource
import sys
import time
import warnings

warnings.filterwarnings("ignore")
import logging  # noqa: E402

logging.disable(logging.WARNING)
from stactools.landsat.stac import create_item as landsat_xml  # noqa: E402
from stactools.landsat.stac import create_item_from_mtl_text as landsat_txt  # noqa: E402
from stactools.sentinel2.stac import create_item as sentinel2  # noqa: E402

out, count, inputs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
os.makedirs(out, exist_ok=True)
start = time.perf_counter()
for i in range(count):
    path = inputs[i % len(inputs)]
    if path.endswith(".SAFE"):
        item = sentinel2(path)
    elif path.endswith(".txt"):
        item = landsat_txt(path, use_usgs_geometry=False)
    else:
        item = landsat_xml(path, use_usgs_geometry=False)
    item.save_object(include_self_link=False, dest_href=os.path.join(out, f"{i}.json"))
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"records": count, "seconds": seconds, "peak_rss_kib": peak}))
