internal import COpenSSL
public import Foundation
public import OCSPValues

/// What goes into a certificate that ``CertificateBuilder`` issues.
public struct CertificateTemplate: Sendable {
    /// Subject attributes in order, e.g. `[("O", "Example"), ("CN", "Example Root")]`.
    public var subject: [(String, String)]
    public var serialNumber: SerialNumber = .random()
    public var notBefore: Date = Date().addingTimeInterval(-3600)
    public var notAfter: Date
    /// X.509v3 extensions as OpenSSL's config syntax, in order: `[(NID short name, value)]`,
    /// e.g. `("basicConstraints", "critical,CA:TRUE")`.
    public var extensions: [(String, String)]

    public init(subject: [(String, String)], validity: TimeInterval, extensions: [(String, String)]) {
        self.subject = subject
        self.notAfter = Date().addingTimeInterval(validity)
        self.extensions = extensions
    }
}

/// Issues X.509 certificates with OpenSSL (for demos and tests; a real CA issues elsewhere).
public enum CertificateBuilder {
    /// Issues a certificate for `subjectKey`'s public key.
    /// - Parameters:
    ///   - template: the subject, validity, serial and extensions.
    ///   - subjectKey: the key whose public half the certificate certifies.
    ///   - issuer: the issuing certificate, or nil for a self-signed one.
    ///   - issuerKey: the key that signs (the subject's own key when self-signed).
    public static func issue(
        _ template: CertificateTemplate, subjectKey: PrivateKey, issuer: Certificate?, issuerKey: PrivateKey
    ) throws -> Certificate {
        ERR_clear_error()
        guard let x509 = X509_new() else { throw OCSPError.openSSL(.encodeFailed, "out of memory") }
        let certificate = Certificate(taking: x509)  // owns x509 from here on

        guard X509_set_version(x509, Int(X509_VERSION_3)) == 1 else { throw fail("version") }
        let serial = try template.serialNumber.makeASN1Integer()
        defer { ASN1_INTEGER_free(serial) }
        guard X509_set_serialNumber(x509, serial) == 1 else { throw fail("serial") }

        guard let name = X509_NAME_new() else { throw fail("subject") }
        defer { X509_NAME_free(name) }
        for (field, value) in template.subject {
            guard X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, value, -1, -1, 0) == 1 else {
                throw fail("subject attribute \(field)")
            }
        }
        guard X509_set_subject_name(x509, name) == 1,
            X509_set_issuer_name(x509, issuer.map { X509_get_subject_name($0.ref) } ?? name) == 1
        else { throw fail("names") }

        let notBefore = try makeGeneralizedTime(template.notBefore)
        defer { ASN1_GENERALIZEDTIME_free(notBefore) }
        let notAfter = try makeGeneralizedTime(template.notAfter)
        defer { ASN1_GENERALIZEDTIME_free(notAfter) }
        // RFC 5280 wants UTCTime before 2050: ASN1_TIME_set picks the right form.
        guard
            let start = ASN1_TIME_set(nil, time_t(template.notBefore.timeIntervalSince1970)),
            let end = ASN1_TIME_set(nil, time_t(template.notAfter.timeIntervalSince1970))
        else { throw fail("validity") }
        defer {
            ASN1_TIME_free(start)
            ASN1_TIME_free(end)
        }
        guard X509_set1_notBefore(x509, start) == 1, X509_set1_notAfter(x509, end) == 1 else {
            throw fail("validity")
        }
        guard X509_set_pubkey(x509, subjectKey.ref) == 1 else { throw fail("public key") }

        var context = X509V3_CTX()
        COpenSSL_X509V3_set_ctx_nodb(&context)
        X509V3_set_ctx(&context, issuer?.ref ?? x509, x509, nil, nil, 0)
        for (field, value) in template.extensions {
            let nid = OBJ_sn2nid(field)
            guard nid != NID_undef, let ext = X509V3_EXT_nconf_nid(nil, &context, nid, value) else {
                throw fail("extension \(field)=\(value)")
            }
            defer { X509_EXTENSION_free(ext) }
            guard X509_add_ext(x509, ext, -1) == 1 else { throw fail("extension \(field)") }
        }
        try issuerKey.signingRetried { key in
            guard X509_sign(x509, key.ref, key.signingDigest) > 0 else {
                throw OCSPError.openSSL(.signFailed, "could not sign the certificate")
            }
        }
        return certificate
    }

    private static func fail(_ what: String) -> OCSPError {
        OCSPError.openSSL(.encodeFailed, "could not set the certificate's \(what)")
    }
}
