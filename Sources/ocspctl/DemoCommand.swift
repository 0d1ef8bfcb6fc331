import ArgumentParser
import CRLService
import OCSPAdmin
import Responder
import RevocationStore
import OCSPValues

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Create a demo PKI and store (if absent): EC root + delegated responder, RSA CA, 12 leaves.")

    @Option(help: "Directory for the demo PKI and store.")
    var dir: String = "Data/demo"

    @Option(help: "Responder URL put in the leaves' AIA.")
    var url: String = "http://127.0.0.1:8080/"

    func run() throws {
        let demo = DemoPKI(directory: dir, responderURL: url)
        if try demo.createIfAbsent() {
            let store = try RevocationStore.open(at: demo.storePath)
            let signed = try OCSPResponder(store: store).presign()
            var policy = CRLPolicy()
            policy.baseURL = url
            for issuer in try store.allIssuers() {
                _ = try CRLGenerator(store: store).generateFull(issuer, policy: policy)
            }
            print("created demo PKI and store in \(dir) (\(signed) responses pre-signed, CRLs generated)")
        } else if try RevocationStore.open(at: demo.storePath, olderSchema: true).migrate() < RevocationStore.schemaVersion {
            print("demo PKI already present in \(dir); its store was migrated to schema \(RevocationStore.schemaVersion)")
        } else {
            print("demo PKI already present in \(dir); unchanged")
        }
    }
}
