import Foundation
import OCSPAdmin
import OCSPCore
import OCSPValues
import RevocationStore
import Testing

@Suite struct DemoPKITests {
    @Test func createsOnceWithARevokedLeafAndPrivateKeys() throws {
        let directory = NSTemporaryDirectory() + "demo-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let demo = DemoPKI(directory: directory, responderURL: "http://127.0.0.1:9999/")
        #expect(try demo.createIfAbsent())
        #expect(try !demo.createIfAbsent())

        let store = try RevocationStore.open(at: demo.storePath)
        #expect(try store.allIssuers().count == 2)
        let root = try Certificate.load(path: demo.path("ec-root.pem"))
        let responder = try Certificate.load(path: demo.path("responder.pem"))
        #expect(responder.isIssued(by: root) && responder.hasOCSPSigningUsage)
        #expect(try PrivateKey.load(path: demo.path("rsa-ca.key")).algorithm == .rsa)

        for index in 1...DemoPKI.ecLeafCount {
            let name = String(format: "leaf-ec-%02d", index)
            let leaf = try Certificate.load(path: demo.path("leaves/\(name).pem"))
            #expect(leaf.isIssued(by: root))
            let record = try #require(try store.certificate(issuer: IssuerID(certificate: root), serial: leaf.serialNumber))
            if name == DemoPKI.revokedLeaf {
                guard case .revoked(_, .keyCompromise, _) = record.status else {
                    Issue.record("\(name) should be revoked for keyCompromise")
                    continue
                }
            } else {
                #expect(record.status == .good)
            }
        }
        #expect(KeyFiles.isExposed(demo.path("ec-root.pem")))
        #expect(!KeyFiles.isExposed(demo.path("ec-root.key")))
    }
}
