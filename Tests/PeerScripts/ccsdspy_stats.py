"""Per-APID packet statistics of CCSDS packet files as ccsdspy decodes them.

--cds FILE: also decode the CDS time (16-bit day, 32-bit ms, 16-bit us from 1958-01-01)
right after the primary header, the JPSS-1 layout, with a ccsdspy FixedLength packet.
"""
import datetime
import json
import sys
import warnings

warnings.filterwarnings("ignore")
import ccsdspy  # noqa: E402
from ccsdspy import PacketField  # noqa: E402
from ccsdspy.utils import read_primary_headers  # noqa: E402

EPOCH = datetime.datetime(1958, 1, 1)
args = sys.argv[1:]
cds = set()
files = []
i = 0
while i < len(args):
    if args[i] == "--cds":
        cds.add(args[i + 1])
        files.append(args[i + 1])
        i += 2
    else:
        files.append(args[i])
        i += 1

for path in files:
    headers = read_primary_headers(path)
    apids = {}
    for apid, seq in zip(headers["CCSDS_APID"], headers["CCSDS_SEQUENCE_COUNT"]):
        a = apids.setdefault(int(apid), {"packets": 0, "first": int(seq), "last": int(seq)})
        a["packets"] += 1
        a["last"] = int(seq)
    out = {"input": path, "packets": len(headers["CCSDS_APID"]), "apids": apids}
    if path in cds:
        packet = ccsdspy.FixedLength([
            PacketField(name="DAY", data_type="uint", bit_length=16),
            PacketField(name="MSEC", data_type="uint", bit_length=32),
            PacketField(name="USEC", data_type="uint", bit_length=16),
        ])
        fields = packet.load(path, include_primary_header=False)
        times = [
            EPOCH + datetime.timedelta(days=int(d), milliseconds=int(m), microseconds=int(u))
            for d, m, u in zip(fields["DAY"], fields["MSEC"], fields["USEC"])
        ]
        out["first_time"] = times[0].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        out["last_time"] = times[-1].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    print(json.dumps(out))
