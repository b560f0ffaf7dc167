import Foundation

/// One line of a training log: the trainer appends one JSON object per step, e.g.
/// `{"step":1,"loss":0.5,"erase_loss":0.4,"anchor_loss":0.1,"lr":1e-4}`. `total_steps` and `elapsed_s`
/// (seconds since the run started) are optional; when present the monitor shows progress, it/s and ETA.
public struct TrainingRecord: Codable, Equatable, Sendable {
    public let step: Int
    public let loss: Double
    public let eraseLoss: Double?
    public let anchorLoss: Double?
    public let learningRate: Double?
    public let totalSteps: Int?
    public let elapsedSeconds: Double?

    enum CodingKeys: String, CodingKey {
        case step, loss, eraseLoss = "erase_loss", anchorLoss = "anchor_loss", learningRate = "lr"
        case totalSteps = "total_steps", elapsedSeconds = "elapsed_s"
    }

    public init(step: Int, loss: Double, eraseLoss: Double? = nil, anchorLoss: Double? = nil,
                learningRate: Double? = nil, totalSteps: Int? = nil, elapsedSeconds: Double? = nil) {
        self.step = step
        self.loss = loss
        self.eraseLoss = eraseLoss
        self.anchorLoss = anchorLoss
        self.learningRate = learningRate
        self.totalSteps = totalSteps
        self.elapsedSeconds = elapsedSeconds
    }
}
