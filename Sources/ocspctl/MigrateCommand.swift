import ArgumentParser
import RevocationStore

struct MigrateCommand: StoreCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Migrate a store made by an older ocspctl to this one's schema, in one transaction.",
        discussion: """
            From schema 1: the old, unchained audit lines start the hash chain as `legacy` records, \
            followed by a baseline record of every issuer and certificate as they are now, so that \
            `audit replay` of the migrated log reproduces the store. ocspd and ocspctl refuse an \
            older store until it is migrated, and any store newer than they are.
            """)

    @OptionGroup var options: StoreOptions

    func run() throws {
        let store = try options.open(olderSchema: true)
        let from = try store.migrate()
        if from == RevocationStore.schemaVersion {
            print("the store is already at schema \(from); unchanged")
        } else {
            print("migrated \(options.store) from schema \(from) to \(RevocationStore.schemaVersion); audit head \(try store.auditHead())")
        }
    }
}
