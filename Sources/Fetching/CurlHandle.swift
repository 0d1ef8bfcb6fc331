internal import CCurl

/// One libcurl easy handle, owned: `deinit` cleans it up. A handle keeps its connections, TLS
/// sessions and DNS cache across ``reset()``, so a reused handle reuses a keep-alive connection.
///
/// Not thread-safe: one transfer at a time, on one thread (``CurlFetcher`` hands a handle to one
/// transfer and takes it back after).
final class CurlHandle {
    let raw: UnsafeMutableRawPointer  // CURL*

    init?() {
        guard curlInitialized, let raw = curl_easy_init() else { return nil }
        self.raw = raw
    }

    /// Every option back to its default; connections and caches stay.
    func reset() { curl_easy_reset(raw) }

    deinit { curl_easy_cleanup(raw) }
}

// A handle is used by one thread at a time: the pool hands it over under its lock, and a transfer
// keeps it until it ends. Therefore it may cross threads.
extension CurlHandle: @unchecked Sendable {}

/// curl_global_init ran at load time (CCurl's initialize.c); curl_easy_init would otherwise run
/// it on first use, beside threads that use OpenSSL. Calling it again only counts.
let curlInitialized: Bool = CCurl_global_init() == CURLE_OK
