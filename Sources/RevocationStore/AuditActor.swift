internal import Foundation

/// Who appends audit records through a store handle: recorded with each change.
public struct AuditActor: Sendable, Hashable {
    public var name: String
    public var host: String

    public init(name: String, host: String = AuditActor.hostName) {
        self.name = name
        self.host = host
    }

    /// The OS user running this process (by effective uid), on this host.
    public static var currentUser: AuditActor {
        AuditActor(name: ProcessInfo.processInfo.userName.isEmpty ? "uid \(geteuid())" : ProcessInfo.processInfo.userName)
    }

    public static var hostName: String { ProcessInfo.processInfo.hostName }
}
