"""stactools-modis items for MODIS ECS metadata files (*.hdf.xml), one JSON line each."""
import json
import sys
import warnings

warnings.filterwarnings("ignore")
from stactools.modis.stac import create_item  # noqa: E402

for path in sys.argv[1:]:
    try:
        item = create_item(path)
        print(json.dumps({"input": path, "item": item.to_dict(include_self_link=False)}))
    except Exception as e:
        print(json.dumps({"input": path, "error": f"{type(e).__name__}: {e}"}))
