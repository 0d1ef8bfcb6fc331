internal import Foundation

/// What one libmicrohttpd thread keeps between requests: its front cache and a pool of POST
/// body buffers. Reached through a pthread key; freed when the thread exits.
final class ThreadContext {
    let frontCache = FrontCache()
    private var postPool: [PostState] = []

    func takePostState() -> PostState {
        if let state = postPool.popLast() { return state }
        return PostState()
    }

    func recycle(_ state: PostState) {
        state.body.removeAll(keepingCapacity: true)
        state.tooLarge = false
        if postPool.count < 64 { postPool.append(state) }
    }
}

/// Per-request state of a POST: the body read so far.
final class PostState {
    var body: [UInt8] = []
    var tooLarge = false
}

/// The pthread key under which each thread's ``ThreadContext`` lives.
struct ThreadContextKey: @unchecked Sendable {
    // @unchecked: a pthread_key_t is an integer handle, created once and only read afterwards.
    let key: pthread_key_t

    init() {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            if let pointer { Unmanaged<ThreadContext>.fromOpaque(pointer).release() }
        }
        self.key = key
    }

    /// This thread's context, created on first use.
    var current: ThreadContext {
        if let pointer = pthread_getspecific(key) {
            return Unmanaged<ThreadContext>.fromOpaque(pointer).takeUnretainedValue()
        }
        let context = ThreadContext()
        pthread_setspecific(key, Unmanaged.passRetained(context).toOpaque())
        return context
    }
}
