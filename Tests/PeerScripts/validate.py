"""stac-validator over many STAC files in one process; argv[1] is the schema config."""
import json
import sys
import warnings

warnings.filterwarnings("ignore")
from stac_validator.validate import StacValidate  # noqa: E402

config = sys.argv[1]
for path in sys.argv[2:]:
    v = StacValidate(path, schema_config=config)
    ok = v.run()
    message = v.message[-1] if v.message else {}
    print(json.dumps({"input": path, "valid": bool(ok), "error": message.get("error_message", "")}))
