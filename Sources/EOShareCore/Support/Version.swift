import Foundation

public enum EOShareVersion {
    public static let current = "0.1.0"
}
