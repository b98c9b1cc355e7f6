import NetCore
import XCTest

final class Base64Tests: XCTestCase {
    func testRFC4648Vectors() {
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            XCTAssertEqual(Base64.encode(Array(plain.utf8)), encoded)
            XCTAssertEqual(Base64.decode(encoded), Array(plain.utf8))
        }
    }

    func testEveryByteRoundTrips() {
        let bytes = (0...255).map { UInt8($0) } + [0xFF, 0xFE, 0x00]
        XCTAssertEqual(Base64.decode(Base64.encode(bytes)), bytes)
    }

    func testRejectsWhatIsNotPaddedBase64() {
        for text in ["Zg", "Zg=", "Z===", "Zm9v!A==", "Zg==Zg==", "=Zg=", "Zm 9v"] {
            XCTAssertNil(Base64.decode(text), text)
        }
    }
}
