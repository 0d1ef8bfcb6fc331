internal import Foundation

/// Envoy's file-based secret discovery (SDS): a `Secret` resource whose `TlsCertificate` carries
/// the staple in `ocsp_staple` (a `DataSource`; Envoy takes a staple as `filename` or
/// `inline_bytes` only, DER), written where an `sds_config: {path: …}` points:
///
/// ```json
/// {"resources": [{"@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
///   "name": "site", "tls_certificate": {"certificate_chain": {"filename": "/etc/envoy/site.pem"},
///   "private_key": {"filename": "/etc/envoy/site.key"}, "ocsp_staple": {"inline_bytes": "MIIB…"}}}]}
/// ```
///
/// Envoy watches a path-based config source for moves (only a rename is atomic), so the document
/// is written to a temporary file in the same directory and renamed over the path
/// (``StapleFile/write(_:)``). Without a valid staple the document names the certificate and key
/// only. JSON is YAML too: the path may end in `.json` or `.yaml`.
public struct EnvoySDSFile: Sendable, Hashable {
    /// The SDS document's path (`sds_config: {path: …}` in Envoy's configuration).
    public var path: String
    /// The secret's `name`, as Envoy's `tls_certificate_sds_secret_configs` names it; nil: none
    /// written (a path-based source holds one secret).
    public var secretName: String?
    /// The certificate chain's file (PEM), for `certificate_chain.filename`.
    public var certificateChain: String
    /// The private key's file (PEM), for `private_key.filename`.
    public var privateKey: String

    public init(path: String, secretName: String? = nil, certificateChain: String, privateKey: String) {
        self.path = path
        self.secretName = secretName
        self.certificateChain = certificateChain
        self.privateKey = privateKey
    }

    /// The `@type` of the resource.
    static let secretType = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

    /// The document for `staple` (DER), or without a staple.
    func document(staple: [UInt8]?) throws -> [UInt8] {
        var certificate: [String: Any] = [
            "certificate_chain": ["filename": certificateChain],
            "private_key": ["filename": privateKey],
        ]
        if let staple { certificate["ocsp_staple"] = ["inline_bytes": Data(staple).base64EncodedString()] }
        var secret: [String: Any] = ["@type": Self.secretType, "tls_certificate": certificate]
        if let secretName { secret["name"] = secretName }
        let data = try JSONSerialization.data(
            withJSONObject: ["resources": [secret]], options: [.sortedKeys, .withoutEscapingSlashes])
        return [UInt8](data) + [UInt8(ascii: "\n")]
    }

    /// Writes the document, atomically, unless the file holds it already.
    private func write(staple: [UInt8]?) throws {
        let file = StapleFile(path: path)
        let bytes: [UInt8]
        do {
            bytes = try document(staple: staple)
        } catch {
            throw StaplingError(.storage, "cannot encode the SDS document for \(path): \(error)")
        }
        if file.read() != bytes { try file.write(bytes) }
    }
}

extension EnvoySDSFile: StapleOutput {
    public var name: String { "envoy_sds" }
    public var recipient: String { "Envoy" }
    public var channel: String { "in its SDS file" }
    /// Also at start: the document may be missing, or older than the staple file.
    public var trigger: StapleOutputTrigger { .untilDelivered }

    public func deliver(_ staple: DeliveredStaple, for target: StapleTarget) async throws {
        try write(staple: staple.der)
    }

    /// The document without `ocsp_staple`: Envoy serves the certificate without a staple.
    public func withdraw(for target: StapleTarget) async throws {
        try write(staple: nil)
    }
}
