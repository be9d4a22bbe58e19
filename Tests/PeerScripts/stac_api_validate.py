"""Runs stac-api-validator offline: the JSON schemas it (through stac-validator, stac-check
and pystac) would download are read from the local copies a stac-validator schema config
names. Usage: stac_api_validate.py SCHEMA_CONFIG [stac-api-validator arguments...]"""

import os
import sys

import yaml

config_path = os.path.abspath(sys.argv[1])
with open(config_path) as f:
    mapping = yaml.safe_load(f)["schemas"]
config_dir = os.path.dirname(config_path)
local = {url: os.path.join(config_dir, path) for url, path in mapping.items()}

# stac-validator (also what stac-check runs): always with the schema config.
import stac_validator.validate as sv

original_init = sv.StacValidate.__init__


def init_with_config(self, *args, **kwargs):
    if not kwargs.get("schema_config"):
        kwargs["schema_config"] = config_path
    original_init(self, *args, **kwargs)


sv.StacValidate.__init__ = init_with_config
import stac_check.lint  # noqa: E402  (imports StacValidate by name: the patched class is the same object)

# pystac's validation reads schemas through its StacIO: local copies for the mapped URLs.
import pystac.stac_io  # noqa: E402

original_read = pystac.stac_io.DefaultStacIO.read_text_from_href


def read_local_first(self, href, *args, **kwargs):
    if href in local:
        with open(local[href]) as f:
            return f.read()
    return original_read(self, href, *args, **kwargs)


pystac.stac_io.DefaultStacIO.read_text_from_href = read_local_first

from stac_api_validator.__main__ import main  # noqa: E402

sys.argv = ["stac-api-validator"] + sys.argv[2:]
sys.exit(main())
