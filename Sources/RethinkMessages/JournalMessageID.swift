/// `MESSAGE_ID`s of the key events, so that an operator can find them all with
/// `journalctl MESSAGE_ID=<id>` (listed in docs/OPERATIONS.md). Random 128-bit ids, fixed forever.
public enum JournalMessageID {
    public static let stubDeployed = "7837d5f90f714ecb8bd8a3b21d63fd38"
    public static let stubLive = "8497a139dd834c4388a2ad02d16b1770"
    public static let stubCrashed = "0fb2256fc1dc464bb5da2b1e367ec56b"
    public static let stubDead = "3869ef2505f04c30ada69bbe4123b7b4"
    public static let packageRefused = "aac3a0a671dc4783bc4830ce679060b1"
    public static let stubLogLinesDropped = "13ec28aa578b49b598e9b97693778963"
    public static let configurationReloaded = "9aff9e24b2694b8a988bb7632046d3d2"
}
