import ArgumentParser
import RevocationStore
import OCSPValues

struct InitCommand: StoreCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Create an empty store.")

    @OptionGroup var options: StoreOptions

    func run() throws {
        _ = try RevocationStore.create(at: options.store)
        print("created store \(options.store)")
    }
}
