"""Helper of stapler-bench.sh (python3 with `cryptography`).

  make COUNT URL CA_CERT CA_KEY DIR REVOKE_EVERY
      COUNT leaf certificates issued by CA_CERT/CA_KEY, each with the AIA OCSP URL, written as
      DIR/leaf-NNNNN.pem (the leaf, then the CA: a chain). One EC P-256 key for every leaf (only
      serials and subjects differ), so making 10,000 takes seconds. Writes DIR/../serials.txt
      (file and serial, hexadecimal) and DIR/../revoke.txt (the serial of every REVOKE_EVERY-th
      leaf, for `ocspctl revoke --serials`; none with 0).

  check CA_CERT DIR REVOKE_LIST
      Every DIR/leaf-*.pem.ocsp fully checked: a successful response for that leaf's CertID
      (issuer name and key hashes, serial), signed by the CA (or by a delegated responder it
      issued), thisUpdate <= now < nextUpdate, and the status expected (revoked for the serials in
      REVOKE_LIST, good otherwise). Prints one line of counts; exit status 1 if a staple is missing
      or does not check.
"""
import datetime
import glob
import hashlib
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID


def make(count, url, ca_cert_path, ca_key_path, out_dir, revoke_every):
    with open(ca_cert_path, "rb") as f:
        ca_pem = f.read()
    ca = x509.load_pem_x509_certificate(ca_pem)
    with open(ca_key_path, "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), password=None)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_pub = leaf_key.public_key()
    now = datetime.datetime.now(datetime.timezone.utc)
    not_before, not_after = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=90)
    aia = x509.AuthorityInformationAccess(
        [x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(url))])
    ski = x509.SubjectKeyIdentifier.from_public_key(leaf_pub)
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key())
    width = max(5, len(str(count)))
    os.makedirs(out_dir, exist_ok=True)
    parent = os.path.dirname(os.path.abspath(out_dir))
    with open(os.path.join(parent, "serials.txt"), "w") as serials, \
            open(os.path.join(parent, "revoke.txt"), "w") as revoke:
        for i in range(1, count + 1):
            serial = x509.random_serial_number()
            name = f"leaf-{i:0{width}d}"
            host = f"{name}.stapler-bench.test"
            cert = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
                .issuer_name(ca.subject)
                .public_key(leaf_pub)
                .serial_number(serial)
                .not_valid_before(not_before)
                .not_valid_after(not_after)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                               critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
                .add_extension(ski, critical=False)
                .add_extension(aki, critical=False)
                .add_extension(aia, critical=False)
                .sign(ca_key, hashes.SHA256())
            )
            with open(os.path.join(out_dir, name + ".pem"), "wb") as f:
                f.write(cert.public_bytes(serialization.Encoding.PEM) + ca_pem)
            serials.write(f"{name}.pem {serial:X}\n")
            if revoke_every and i % revoke_every == 0:
                revoke.write(f"{serial:X}\n")


def verify_signature(public_key, signature, data, hash_algorithm):
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, data, ec.ECDSA(hash_algorithm))
    elif isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, data, padding.PKCS1v15(), hash_algorithm)
    else:
        public_key.verify(signature, data)


def check(ca_cert_path, cert_dir, revoke_list):
    with open(ca_cert_path, "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(revoke_list) as f:
        revoked_serials = {int(line, 16) for line in f if line.strip() and not line.startswith("#")}
    ca_name_sha1 = hashlib.sha1(ca.subject.public_bytes()).digest()
    # SHA-1 of the subjectPublicKey BIT STRING's contents: what the CertID's issuerKeyHash holds.
    ca_key_sha1 = x509.SubjectKeyIdentifier.from_public_key(ca.public_key()).digest
    now = datetime.datetime.now(datetime.timezone.utc)
    counts = {"good": 0, "revoked": 0, "missing": 0, "bad": 0}
    problems = []
    for pem in sorted(glob.glob(os.path.join(cert_dir, "leaf-*.pem"))):
        staple = pem + ".ocsp"
        if not os.path.exists(staple):
            counts["missing"] += 1
            continue
        try:
            with open(pem, "rb") as f:
                leaf = x509.load_pem_x509_certificate(f.read())
            with open(staple, "rb") as f:
                response = ocsp.load_der_ocsp_response(f.read())
            assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL, response.response_status
            assert response.serial_number == leaf.serial_number, "serial"
            assert response.hash_algorithm.name == "sha1", response.hash_algorithm.name
            assert response.issuer_name_hash == ca_name_sha1, "issuer name hash"
            assert response.issuer_key_hash == ca_key_sha1, "issuer key hash"
            signer = ca
            if response.certificates:  # a delegated responder: issued by the CA, EKU OCSPSigning
                signer = response.certificates[0]
                verify_signature(ca.public_key(), signer.signature, signer.tbs_certificate_bytes,
                                 signer.signature_hash_algorithm)
                eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
                assert ExtendedKeyUsageOID.OCSP_SIGNING in eku, "responder EKU"
            verify_signature(signer.public_key(), response.signature, response.tbs_response_bytes,
                             response.signature_hash_algorithm)
            assert response.this_update_utc <= now, "thisUpdate in the future"
            assert response.next_update_utc is not None and now < response.next_update_utc, "stale"
            expected = (ocsp.OCSPCertStatus.REVOKED if leaf.serial_number in revoked_serials
                        else ocsp.OCSPCertStatus.GOOD)
            assert response.certificate_status == expected, f"{response.certificate_status} != {expected}"
            counts["good" if expected == ocsp.OCSPCertStatus.GOOD else "revoked"] += 1
        except Exception as error:  # noqa: BLE001 - every failure is counted and shown
            counts["bad"] += 1
            if len(problems) < 5:
                problems.append(f"{os.path.basename(staple)}: {error!r}")
    print(f"verified {counts['good'] + counts['revoked']} staples: {counts['good']} good, "
          f"{counts['revoked']} revoked (as expected), {counts['missing']} missing, {counts['bad']} bad")
    for line in problems:
        print("  " + line)
    return 1 if counts["bad"] or counts["missing"] else 0


if __name__ == "__main__":
    if len(sys.argv) == 8 and sys.argv[1] == "make":
        make(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], int(sys.argv[7]))
    elif len(sys.argv) == 5 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3], sys.argv[4]))
    else:
        sys.exit(__doc__)
