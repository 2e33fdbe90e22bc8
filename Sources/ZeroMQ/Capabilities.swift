import CZeroMQ

/// What the linked libzmq is and can do.
public enum ZeroMQLibrary {
    /// "major.minor.patch" of the libzmq loaded at run time.
    public static var version: String {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }

    /// Whether libzmq was built with a capability such as "curve" (needs libsodium).
    public static func has(_ capability: String) -> Bool { zmq_has(capability) != 0 }
}
