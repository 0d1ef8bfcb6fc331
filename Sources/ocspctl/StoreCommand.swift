import ArgumentParser

/// A command that opens a store. Its ``StoreOptions`` tell ``OCSPCtl`` whether a database is the
/// system of record, in which case the command runs inside one of its transactions
/// (``OCSPCtl/runWithDatabase(_:options:url:)``).
protocol StoreCommand: ParsableCommand {
    /// `--store`, `--database` and the rest (an `@OptionGroup` satisfies it).
    var options: StoreOptions { get }
}
