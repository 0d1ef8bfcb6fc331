internal import COpenSSL
public import Foundation
internal import Locking
internal import OCSPValues

/// An RFC 7512 URI naming a private key in a PKCS#11 token, e.g.
/// `pkcs11:token=ocsp;object=responder;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/ocsp/pin`.
///
/// The path attributes (`token`, `object`, `id`, `type`, …) go to the engine as they are. Of the
/// query attributes, `module-path` names the module and `pin-source` a file holding the PIN;
/// `pin-value` is refused, since the URI is stored in the issuer record and printed.
public struct PKCS11URI: Sendable, Hashable, CustomStringConvertible {
    /// The URI as given (it holds no secret).
    public let text: String
    /// `pkcs11:` and the path attributes: what the engine is given (libp11 refuses query attributes).
    let enginePath: String
    /// The module (`module-path`), when the URI names one.
    public let modulePath: String?
    /// The file that holds the PIN (`pin-source`), when the URI names one.
    public let pinFile: String?

    public var description: String { text }

    /// Whether a key reference is a PKCS#11 URI rather than a file path.
    public static func isURI(_ reference: String) -> Bool { reference.hasPrefix("pkcs11:") }

    private static let pathAttributes: Set<String> = [
        "id", "library-description", "library-manufacturer", "library-version", "manufacturer", "model", "object",
        "serial", "slot-description", "slot-id", "slot-manufacturer", "token", "type",
    ]

    /// - Throws: `OCSPError.Code.keyConfiguration` saying what is wrong with the URI.
    public init(_ text: String) throws {
        // Never echo a PIN given in the URI (refused below).
        let shown = text.replacing(/pin-value=[^&;]*/, with: "pin-value=…")
        func refuse(_ why: String) -> OCSPError { OCSPError(.keyConfiguration, "PKCS#11 URI \(shown): \(why)") }
        guard Self.isURI(text) else { throw refuse("does not start with pkcs11:") }
        let body = text.dropFirst("pkcs11:".count)
        let question = body.firstIndex(of: "?")
        let path = question.map { body[..<$0] } ?? body
        let query = question.map { body[body.index(after: $0)...] } ?? ""

        var seen = Set<String>()
        for attribute in path.split(separator: ";", omittingEmptySubsequences: false) {
            guard let (name, value) = Self.split(attribute), !name.isEmpty else {
                throw refuse("'\(attribute)' is not name=value")
            }
            guard Self.pathAttributes.contains(name) || name.hasPrefix("x-") else {
                throw refuse("unknown attribute '\(name)' (RFC 7512 path attributes: \(Self.pathAttributes.sorted().joined(separator: ", ")))")
            }
            guard seen.insert(name).inserted else { throw refuse("attribute '\(name)' appears twice") }
            guard value.removingPercentEncoding != nil else { throw refuse("bad percent-encoding in '\(attribute)'") }
            if name == "type", value != "private" { throw refuse("type=\(value): a signing key is type=private") }
        }
        guard seen.contains("object") || seen.contains("id") else {
            throw refuse("names no key: give object=<label> or id=<hex>")
        }

        var modulePath: String? = nil
        var pinFile: String? = nil
        for attribute in query.split(separator: "&") {
            guard let (name, encoded) = Self.split(attribute), let value = encoded.removingPercentEncoding else {
                throw refuse("'\(attribute)' is not name=value")
            }
            switch name {
            case "module-path":
                guard value.hasPrefix("/") else { throw refuse("module-path must be an absolute path") }
                modulePath = value
            case "pin-source":
                // RFC 7512 §2.3: a URI; a file, here: file:/path, file:///path or a plain absolute path.
                let path = value.hasPrefix("file://") ? String(value.dropFirst(7)) : value.hasPrefix("file:") ? String(value.dropFirst(5)) : value
                guard path.hasPrefix("/") else { throw refuse("pin-source must be file:/absolute/path") }
                pinFile = path
            case "pin-value":
                throw refuse("pin-value puts the PIN where it is stored and shown; use pin-source=file:/path or OCSP_PKCS11_PIN")
            case "module-name":
                throw refuse("module-name is not supported; give module-path=/path/to/module.so")
            default:
                throw refuse("unknown query attribute '\(name)' (supported: module-path, pin-source)")
            }
        }
        self.text = text
        enginePath = "pkcs11:" + path
        self.modulePath = modulePath
        self.pinFile = pinFile
    }

    private static func split(_ attribute: Substring) -> (String, String)? {
        guard let equals = attribute.firstIndex(of: "=") else { return nil }
        return (String(attribute[..<equals]), String(attribute[attribute.index(after: equals)...]))
    }

    /// The PIN: from `pin-source`, else from `OCSP_PKCS11_PIN`. Never from a flag, never logged.
    func pin() throws -> String {
        if let pinFile {
            guard let data = FileManager.default.contents(atPath: pinFile) else {
                throw OCSPError(.keyConfiguration, "cannot read the PIN file \(pinFile) (pin-source of \(text))")
            }
            var pin = String(decoding: data, as: UTF8.self)
            while pin.hasSuffix("\n") || pin.hasSuffix("\r") { pin.removeLast() }
            guard !pin.isEmpty else { throw OCSPError(.keyConfiguration, "the PIN file \(pinFile) is empty") }
            return pin
        }
        if let pin = ProcessInfo.processInfo.environment["OCSP_PKCS11_PIN"], !pin.isEmpty { return pin }
        throw OCSPError(
            .keyConfiguration, "\(text) needs a PIN: add pin-source=file:/path/to/pin to the URI, or set OCSP_PKCS11_PIN")
    }
}

/// One PKCS#11 module, opened once per process through OpenSSL's libp11 engine, and every key
/// loaded from its tokens. The only Swift that knows about the engine (with `pkcs11.c`).
///
/// What it guards against, from real incidents (boulder#3468: a CA that failed with
/// `CKR_SESSION_HANDLE_INVALID` until restarted after its HSM proxy restarted):
/// - **A lost session or token.** A signature that fails in the token marks it lost. The next
///   signer to need it reopens the module (C_Finalize, C_Initialize: the tokens are found afresh),
///   reloads its key and retries once; at most once per ``Limits/retryInterval`` while the token
///   stays away, and every signature in between fails at once (`keyUnavailable`), so a missing
///   HSM costs the callers nothing but a `tryLater`.
/// - **A slow HSM.** At most ``Limits/concurrency`` signatures are in the token at once (libp11's
///   session pool), ``Limits/queue`` more wait, each at most ``Limits/timeout``; a signature that
///   cannot get in fails with `keyUnavailable`, and the token is marked slow for a retry interval,
///   so that request threads return to serving cached responses instead of queueing.
///
/// Keys are never freed: a key loaded before a reopen points into the old module state, so it is
/// kept (a few hundred bytes per key and reopen) rather than freed into it. Reopening waits, with
/// the same timeout, until no signature is in the token (a read-write lock: signatures share it,
/// the reopen holds it alone), and each key records the reopen count it was loaded in: a key
/// from before a reopen is refused rather than used.
///
/// @unchecked Sendable: `engine` is only used under `access` (signing shared; loading and
/// reopening serialised by `loading` and, for the reopen, alone); everything else is locked.
public final class PKCS11Token: @unchecked Sendable {
    /// How signing through a token is bounded. Process-wide (``configure(_:)``).
    public struct Limits: Sendable, Equatable {
        /// Signatures in the token at once (libp11 keeps 16 sessions).
        public var concurrency = 16
        /// Signatures waiting for one of those places; beyond, a signature fails at once.
        public var queue = 64
        /// Seconds a signature waits for a place, and a reopen for the signatures to finish.
        public var timeout: Double = 2
        /// Seconds between attempts to reach a token that was lost or slow.
        public var retryInterval: Double = 1
        public init() {}
    }

    /// What a token is like now, for `/readyz`, metrics and logs.
    public struct Status: Sendable {
        public let modulePath: String
        /// Why it cannot sign now, or nil when it can.
        public let problem: String?
        public let since: Date?
        /// How many times the module was reopened to recover.
        public let reopens: Int
        /// Signatures refused for want of a place within the timeout, or a full queue.
        public let timeouts: Int
        /// Signatures in the token, and waiting, now.
        public let inside: Int
        public let waiting: Int
    }

    /// The module, when a URI names none (`--pkcs11-module`, `pkcs11.module`, `OCSP_PKCS11_MODULE`).
    public static var defaultModulePath: String? {
        get { defaults.withLock { $0.module } ?? ProcessInfo.processInfo.environment["OCSP_PKCS11_MODULE"] }
        set { defaults.withLock { $0.module = newValue } }
    }

    /// Sets the limits of tokens opened from now on.
    public static func configure(_ limits: Limits) { defaults.withLock { $0.limits = limits } }

    /// Called with why when a token is lost or slow, and with nil when it signs again.
    public static func onChange(_ handler: @escaping @Sendable (_ modulePath: String, _ problem: String?) -> Void) {
        defaults.withLock { $0.handler = handler }
    }

    /// Every module opened so far.
    public static func statuses() -> [Status] {
        opened.withLock { Array($0.values) }.sorted { $0.modulePath < $1.modulePath }.map(\.status)
    }

    private struct Defaults {
        var module: String? = nil
        var limits = Limits()
        var handler: (@Sendable (String, String?) -> Void)? = nil
    }
    private static let defaults = LockedValue(Defaults())
    private static let opened = LockedValue<[String: PKCS11Token]>([:])

    private enum Outage {
        /// The token failed a signature or a key load: reopen before the next attempt.
        case lost
        /// A signature found no place in time, or took longer than the timeout: let one probe
        /// through per retry interval.
        case slow
    }

    /// An `EVP_PKEY*` the token keeps. @unchecked Sendable: OpenSSL allows signing with one key
    /// from several threads, and the token never frees it.
    private struct KeyHandle: @unchecked Sendable { let ref: OpaquePointer }

    private struct State {
        /// Bumped by each reopen; a key from an older one is not used.
        var generation = 0
        /// Keys of this generation, by engine URI.
        var keys: [String: KeyHandle] = [:]
        /// Keys of older generations: kept, never freed (see the type's documentation).
        var retired: [KeyHandle] = []
        var outage: (kind: Outage, problem: String, since: Date, retryAt: Date)? = nil
        /// The PIN (its SHA-256) a token refused, per key: not tried again, since tokens lock
        /// after a few wrong ones.
        var refusedPIN: [String: [UInt8]] = [:]
        var reopens = 0
        var timeouts = 0
        /// A signature is trying a slow token again (the others fail at once meanwhile).
        var probing = false
        /// Whether the engine's last initialisation succeeded (so the next reopen finishes it first).
        var engineInitialized = true
    }

    public let modulePath: String
    private let engine: OpaquePointer  // ENGINE*, kept for the life of the process
    private let limits: Limits
    private let access = ReadWriteLock()
    private let loading = SerialLock()
    private let gate: BoundedGate
    private let state = LockedValue(State())

    private init(modulePath: String, engine: OpaquePointer, limits: Limits) {
        self.modulePath = modulePath
        self.engine = engine
        self.limits = limits
        gate = BoundedGate(capacity: limits.concurrency, queue: limits.queue)
    }

    /// The module a URI names (or the default one), opened on first use.
    /// - Throws: `OCSPError.Code.keyConfiguration` when no module is named or it does not load.
    static func token(for uri: PKCS11URI) throws -> PKCS11Token {
        guard let modulePath = uri.modulePath ?? defaultModulePath else {
            throw OCSPError(
                .keyConfiguration,
                "\(uri) names no PKCS#11 module: add module-path=/path/to/module.so to the URI, or pass --pkcs11-module")
        }
        return try opened.withLock { table in
            if let token = table[modulePath] { return token }
            guard FileManager.default.fileExists(atPath: modulePath) else {
                throw OCSPError(.keyConfiguration, "PKCS#11 module \(modulePath) does not exist")
            }
            // libp11 loads the module only when a key is first loaded, and prints dlopen's
            // complaint itself: try it here, for one clear line.
            guard let handle = dlopen(modulePath, RTLD_NOW | RTLD_LOCAL) else {
                let why = dlerror().map { String(cString: $0) } ?? "dlopen failed"
                throw OCSPError(.keyConfiguration, "cannot load PKCS#11 module \(modulePath): \(why)")
            }
            guard dlsym(handle, "C_GetFunctionList") != nil else {
                dlclose(handle)
                throw OCSPError(.keyConfiguration, "\(modulePath) is not a PKCS#11 module (no C_GetFunctionList)")
            }
            dlclose(handle)
            ERR_clear_error()
            guard let engine = COpenSSL_pkcs11_open(modulePath) else {
                throw OCSPError.openSSL(
                    .keyConfiguration,
                    "cannot load PKCS#11 module \(modulePath) through OpenSSL's pkcs11 engine (is libengine-pkcs11-openssl installed?)")
            }
            let token = PKCS11Token(modulePath: modulePath, engine: engine, limits: defaults.withLock { $0.limits })
            table[modulePath] = token
            return token
        }
    }

    /// Loads (or finds, already loaded) the key `uri` names; after a loss, reopens the module
    /// first (at most once per retry interval).
    /// - Throws: `OCSPError.Code.keyConfiguration` (no PIN, a wrong PIN),
    ///   `OCSPError.Code.keyUnavailable` (no such token or key now, or an outage).
    func loadKey(_ uri: PKCS11URI) throws -> PrivateKey {
        let pin = try uri.pin()
        return try loading.run {
            let lost = try state.withLock { state -> Bool in
                if state.refusedPIN[uri.enginePath] == sha256(Array(pin.utf8)) {
                    throw OCSPError(.keyConfiguration, "the token refused this PIN for \(uri) before; fix pin-source or OCSP_PKCS11_PIN")
                }
                guard let outage = state.outage, outage.kind == .lost else { return false }
                if Date() < outage.retryAt { throw unavailable(outage.problem) }
                return true
            }
            if lost { try reopen() }
            return try access.withReadLock {
                let (generation, loaded) = state.withLock { ($0.generation, $0.keys[uri.enginePath]) }
                if let loaded { return PrivateKey(borrowing: loaded.ref, token: self, generation: generation, reference: uri.text) }
                ERR_clear_error()
                guard COpenSSL_pkcs11_set_pin(engine, pin) == 1 else {
                    throw OCSPError.openSSL(.keyConfiguration, "the pkcs11 engine did not take the PIN")
                }
                guard let key = COpenSSL_pkcs11_load_private_key(engine, uri.enginePath) else {
                    throw loadFailure(uri, pin: pin, errors: drainOpenSSLErrors())
                }
                state.withLock { $0.keys[uri.enginePath] = KeyHandle(ref: key) }
                recovered()
                return PrivateKey(borrowing: key, token: self, generation: generation, reference: uri.text)
            }
        }
    }

    /// Reopens the module (C_Finalize, C_Initialize), once no signature is in the token.
    private func reopen() throws {
        let reopened = access.withWriteLock(timeout: limits.timeout) { () -> Bool in
            ERR_clear_error()
            let initialized = state.withLock { $0.engineInitialized }
            let ok = COpenSSL_pkcs11_reinitialize(engine, initialized ? 1 : 0) == 1
            _ = drainOpenSSLErrors()
            state.withLock { state in
                state.engineInitialized = ok
                state.generation += 1
                state.reopens += 1
                state.retired += state.keys.values
                state.keys = [:]
            }
            return ok
        }
        guard reopened == true else {
            let why = reopened == nil ? "signatures still in the token after \(limits.timeout) s" : "the module did not reopen"
            markOutage(.lost, "the PKCS#11 token is lost and could not be reopened: \(why)")
            throw unavailable("the PKCS#11 token is lost and could not be reopened: \(why)")
        }
    }

    private func loadFailure(_ uri: PKCS11URI, pin: String, errors: [String]) -> OCSPError {
        let code = Self.returnValue(in: errors)
        if code == Self.pinIncorrect || code == Self.pinLocked {
            state.withLock { $0.refusedPIN[uri.enginePath] = sha256(Array(pin.utf8)) }
            return OCSPError(
                .keyConfiguration,
                "the token refused the PIN for \(uri) (\(Self.name(code!))); fix pin-source or OCSP_PKCS11_PIN",
                openSSLErrors: errors)
        }
        let problem = "no private key \(uri.enginePath) in PKCS#11 module \(modulePath)" + (code.map { " (\(Self.name($0)))" } ?? "")
        markOutage(.lost, "\(problem): is the token present and the object name right?")
        return OCSPError(.keyUnavailable, "\(problem): is the token present and the object name right?", openSSLErrors: errors)
    }

    /// Runs `body` (a signature with a key of this token, of `generation`) within the limits.
    /// - Throws: `OCSPError.Code.keyUnavailable` in an outage, for a key from before a reopen,
    ///   when no place came free in time, and when the signature failed in the token.
    func sign<Result>(generation: Int, _ body: () throws -> Result) throws -> Result {
        let isProbe = try state.withLock { state -> Bool in
            guard state.generation == generation else { throw unavailable("the token was reopened since this key was loaded") }
            guard let outage = state.outage else { return false }
            // A lost token's keys are dead until a reload (``checkRetry(after:)``, then ``loadKey(_:)``);
            // a slow token gets one signature at a time to try it again, once a retry interval passed.
            if outage.kind == .lost || Date() < outage.retryAt || state.probing { throw unavailable(outage.problem) }
            state.probing = true
            return true
        }
        defer { if isProbe { state.withLock { $0.probing = false } } }
        let started = ContinuousClock.now
        let result: Swift.Result<Result, any Error>
        do {
            result = try gate.run(timeout: limits.timeout) {
                try access.withReadLock {
                    guard state.withLock({ $0.generation }) == generation else {
                        throw unavailable("the token was reopened since this key was loaded")
                    }
                    return Swift.Result { try body() }
                }
            }
        } catch let refusal as BoundedGate.Refusal {
            let why =
                refusal == .queueFull
                ? "\(limits.queue) signatures already wait for the token" : "no signature slot came free within \(limits.timeout) s"
            state.withLock { $0.timeouts += 1 }
            markOutage(.slow, "the PKCS#11 token is slow: \(why)")
            throw unavailable("the PKCS#11 token is slow: \(why)")
        }
        switch result {
        case .success(let value):
            // A signature that took longer than the timeout is served, but marks the token slow:
            // until the next probe, signatures fail at once rather than tie up request threads.
            let took = ContinuousClock.now - started
            if took > .seconds(limits.timeout) {
                let seconds = Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
                markOutage(.slow, String(format: "the PKCS#11 token is slow: a signature took %.1f s (timeout %g s)", seconds, limits.timeout))
            } else {
                recovered()
            }
            return value
        case .failure(let error as OCSPError) where error.code == .signFailed:
            let code = Self.returnValue(in: error.openSSLErrors)
            let problem = "the PKCS#11 token failed a signature" + (code.map { " (\(Self.name($0)))" } ?? "")
            markOutage(.lost, problem)
            throw OCSPError(.keyUnavailable, problem, openSSLErrors: error.openSSLErrors)
        case .failure(let error):
            throw error
        }
    }

    /// After a signature with a key of `generation` failed: throws when it is too early to try
    /// again (an outage still within its retry interval, or a slow token); returns when a key
    /// load may go ahead (and reopen the module, if the token was lost).
    func checkRetry(after generation: Int) throws {
        try state.withLock { state in
            guard state.generation == generation, let outage = state.outage else { return }
            if outage.kind == .slow || Date() < outage.retryAt { throw unavailable(outage.problem) }
        }
    }

    private func unavailable(_ problem: String) -> OCSPError { OCSPError(.keyUnavailable, problem) }

    private func markOutage(_ kind: Outage, _ problem: String) {
        let now = Date()
        let isNew = state.withLock { state -> Bool in
            let isNew = state.outage == nil
            state.outage = (kind, problem, state.outage?.since ?? now, now.addingTimeInterval(limits.retryInterval))
            return isNew
        }
        if isNew { Self.defaults.withLock { $0.handler }?(modulePath, problem) }
    }

    private func recovered() {
        let wasOut = state.withLock { state -> Bool in
            defer { state.outage = nil }
            return state.outage != nil
        }
        if wasOut { Self.defaults.withLock { $0.handler }?(modulePath, nil) }
    }

    var status: Status {
        let load = gate.load
        return state.withLock { state in
            Status(
                modulePath: modulePath, problem: state.outage?.problem, since: state.outage?.since, reopens: state.reopens,
                timeouts: state.timeouts, inside: load.inside, waiting: load.waiting)
        }
    }

    /// Why the token's keys cannot sign now, or nil. (A key from before a reopen is reloaded by
    /// its signer on its next signature, so it is no problem by itself.)
    var problem: String? { state.withLock { $0.outage?.problem } }

    // MARK: - PKCS#11 return values

    static let pinIncorrect: UInt = 0xA0
    static let pinLocked: UInt = 0xA4
    private static let names: [UInt: String] = [
        0x03: "CKR_SLOT_ID_INVALID", 0x05: "CKR_GENERAL_ERROR", 0x06: "CKR_FUNCTION_FAILED", 0x30: "CKR_DEVICE_ERROR",
        0x31: "CKR_DEVICE_MEMORY", 0x32: "CKR_DEVICE_REMOVED", 0x60: "CKR_KEY_HANDLE_INVALID",
        0x82: "CKR_OBJECT_HANDLE_INVALID", 0xA0: "CKR_PIN_INCORRECT", 0xA4: "CKR_PIN_LOCKED", 0xB0: "CKR_SESSION_CLOSED",
        0xB3: "CKR_SESSION_HANDLE_INVALID", 0xE0: "CKR_TOKEN_NOT_PRESENT", 0x101: "CKR_USER_NOT_LOGGED_IN",
        0x190: "CKR_CRYPTOKI_NOT_INITIALIZED",
    ]

    static func name(_ code: UInt) -> String { names[code] ?? "CKR 0x" + String(code, radix: 16) }

    /// The CK_RV of the last PKCS#11 error among OpenSSL's (libp11 reports CK_RV values as the
    /// reasons of its error library "PKCS#11 module"; the engine's own, "pkcs11 engine", has
    /// reasons of its own), from their `error:XXXXXXXX:lib:…` strings.
    static func returnValue(in errors: [String]) -> UInt? {
        errors.reversed().lazy.compactMap { entry -> UInt? in
            let fields = entry.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
            guard fields.count >= 3, fields[2] == "PKCS#11 module",
                let packed = UInt(fields[1], radix: 16)
            else { return nil }
            return packed & 0x7F_FFFF  // ERR_REASON_MASK
        }.first
    }
}
