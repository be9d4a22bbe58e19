"""stactools-landsat items for MTL files (their _ANG.txt beside them), one JSON line each."""
import json
import sys
import warnings

warnings.filterwarnings("ignore")
from stactools.landsat.stac import create_item, create_item_from_mtl_text  # noqa: E402

for path in sys.argv[1:]:
    try:
        if path.endswith(".txt"):
            item = create_item_from_mtl_text(path, use_usgs_geometry=False)
        else:
            item = create_item(path, use_usgs_geometry=False)
        print(json.dumps({"input": path, "item": item.to_dict(include_self_link=False)}))
    except Exception as e:  # reported to the test, which names the file
        print(json.dumps({"input": path, "error": f"{type(e).__name__}: {e}"}))
