import Foundation
import OCSPCore
import OCSPValues
import Testing

/// RFC 7512 key references: what is taken, what is refused and why (the engine itself is tried
/// against SoftHSM2 in Tests/EndToEnd/test_pkcs11.py).
@Suite struct PKCS11URITests {
    @Test func pathAttributesGoToTheEngineAndQueryAttributesAreTakenOut() throws {
        let uri = try PKCS11URI(
            "pkcs11:token=ocsp;object=responder%20ec;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/ocsp/pin")
        #expect(uri.modulePath == "/usr/lib/softhsm/libsofthsm2.so")
        #expect(uri.pinFile == "/etc/ocsp/pin")
        #expect(uri.description.hasPrefix("pkcs11:token=ocsp;object=responder%20ec"))
        #expect(try PKCS11URI("pkcs11:id=%01?pin-source=file:///run/pin").pinFile == "/run/pin")
        #expect(try PKCS11URI("pkcs11:id=%01").modulePath == nil)
        #expect(PKCS11URI.isURI("pkcs11:object=x") && !PKCS11URI.isURI("/etc/ocsp/responder.key"))
    }

    @Test(arguments: [
        ("pkcs11:token=ocsp", "names no key"),
        ("pkcs11:object=a;object=b", "appears twice"),
        ("pkcs11:object=a;colour=red", "unknown attribute"),
        ("pkcs11:object=a;type=public", "type=private"),
        ("pkcs11:object=a?module-name=softhsm2", "module-path"),
        ("pkcs11:object=a?module-path=relative.so", "absolute"),
        ("pkcs11:object=a?pin-source=pin.txt", "file:/absolute/path"),
        ("pkcs11:object=a?color=red", "unknown query attribute"),
        ("pkcs11:object=%zz", "percent-encoding"),
    ])
    func malformedURIsAreRefusedSayingWhy(text: String, why: String) {
        #expect {
            _ = try PKCS11URI(text)
        } throws: { error in
            guard let error = error as? OCSPError else { return false }
            return error.code == .keyConfiguration && error.message.contains(why)
        }
    }

    @Test func aPINInTheURIIsRefusedAndNeverRepeated() {
        #expect {
            _ = try PKCS11URI("pkcs11:object=a?pin-value=123456&module-path=/m.so")
        } throws: { error in
            let message = "\(error)"
            return message.contains("pin-value") && !message.contains("123456")
        }
    }

    @Test func aKeyWithoutAPINSaysWhereToPutIt() throws {
        guard ProcessInfo.processInfo.environment["OCSP_PKCS11_PIN"] == nil else { return }
        #expect {
            _ = try PrivateKey.load(reference: "pkcs11:token=ocsp;object=k?module-path=/usr/lib/softhsm/libsofthsm2.so")
        } throws: { error in
            "\(error)".contains("pin-source=file:") && "\(error)".contains("OCSP_PKCS11_PIN")
        }
    }
}
