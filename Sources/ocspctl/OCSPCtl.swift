import ArgumentParser

@main
struct OCSPCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ocspctl",
        abstract: "Administer an OCSP responder's revocation store.",
        subcommands: [
            InitCommand.self, IssuerCommand.self, CertCommand.self, RevokeCommand.self, HoldCommand.self,
            UnholdCommand.self, StatusCommand.self, ImportCommand.self, PresignCommand.self, CRLCommand.self,
            DemoCommand.self,
        ])
}
