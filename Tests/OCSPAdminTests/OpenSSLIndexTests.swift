import Foundation
import OCSPAdmin
import OCSPCore
import OCSPValues
import RevocationStore
import Testing

@Suite struct OpenSSLIndexTests {
    @Test func parsesValidRevokedAndExpiredLines() throws {
        let valid = try #require(try OpenSSLIndex.parse(line: "V\t361231235959Z\t\t1A2B\tunknown\t/CN=a", number: 1))
        #expect(valid.serial.hex == "1A2B")
        #expect(valid.record.status == .good)
        #expect(valid.record.notAfter == Date(timeIntervalSince1970: 2_114_380_799))

        let revoked = try #require(
            try OpenSSLIndex.parse(line: "R\t20361231235959Z\t260102030405Z,keyCompromise,251231000000Z\t0F\tunknown\t/CN=b", number: 2))
        #expect(
            revoked.record.status
                == .revoked(
                    time: Date(timeIntervalSince1970: 1_767_323_045), reason: .keyCompromise,
                    invalidityDate: Date(timeIntervalSince1970: 1_767_139_200)))

        let ca = try #require(try OpenSSLIndex.parse(line: "R\t361231235959Z\t260102030405Z,CACompromise\t10\tunknown\t/CN=c", number: 3))
        guard case .revoked(_, .cACompromise, _) = ca.record.status else {
            Issue.record("CACompromise (OpenSSL's spelling) should map to cACompromise")
            return
        }
        #expect(try OpenSSLIndex.parse(line: "E\t200101000000Z\t\t11\tunknown\t/CN=d", number: 4)?.record.status == .good)
        #expect(try OpenSSLIndex.parse(line: "   ", number: 5) == nil)
    }

    @Test(arguments: ["X\t361231235959Z\t\t1A\tunknown\t/CN=a", "V\tsoon\t\t1A\tunknown\t/CN=a", "V\t361231235959Z\t\tZZ\tunknown\t/CN=a",
                      "R\t361231235959Z\t\t1A\tunknown\t/CN=a", "R\t361231235959Z\t260102030405Z,bogus\t1A\tx\t/CN=a", "V"])
    func rejectsBadLinesNamingTheLine(line: String) {
        do {
            _ = try OpenSSLIndex.parse(line: Substring(line), number: 42)
            Issue.record("accepted \(line)")
        } catch let error as StoreError {
            #expect(error.message.hasPrefix("index line 42:"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
