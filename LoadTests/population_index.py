"""Writes an OpenSSL index.txt of COUNT certificates with random 127-bit serials (one in 50
revoked, keyCompromise), the same for the same COUNT: the population of bench.sh and
compare-builds.sh.   python3 population_index.py COUNT PATH"""
import random
import sys

count, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(count)
with open(path, "w") as out:
    for i in range(count):
        serial = "%032X" % (rng.getrandbits(126) | (1 << 126))
        if i % 50 == 7:
            out.write(f"R\t361127000000Z\t261101000000Z,keyCompromise\t{serial}\tunknown\t/CN=leaf {i}\n")
        else:
            out.write(f"V\t361127000000Z\t\t{serial}\tunknown\t/CN=leaf {i}\n")
