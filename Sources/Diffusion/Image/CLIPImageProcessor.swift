import Foundation

/// transformers' `CLIPImageProcessor` with its PIL backend (`preprocessor_config.json`): resize so the shortest
/// edge is `shortestEdge` (Pillow's bicubic), centre crop, rescale to 0…1, normalise per channel. Only that path
/// is implemented; a config asking for anything else (another resampling filter, a skipped step, a crop larger
/// than the resized image) is refused when read, rather than preprocessed differently from the reference.
public struct CLIPImageProcessor: Sendable, Equatable, Decodable {
    public var shortestEdge: Int
    public var cropWidth: Int
    public var cropHeight: Int
    public var rescaleFactor: Double
    public var mean: [Float]
    public var std: [Float]

    private enum Key: String, CodingKey {
        case size, crop_size, rescale_factor, image_mean, image_std, resample
        case do_resize, do_center_crop, do_rescale, do_normalize
    }

    /// `size` and `crop_size` are dictionaries in current configs and plain numbers in older ones.
    private struct Size: Decodable {
        var shortestEdge: Int?, width: Int?, height: Int?
        private enum Key: String, CodingKey { case shortest_edge, width, height }

        init(from decoder: Decoder) throws {
            if let side = try? decoder.singleValueContainer().decode(Int.self) {
                (shortestEdge, width, height) = (side, side, side)
                return
            }
            let c = try decoder.container(keyedBy: Key.self)
            shortestEdge = try c.decodeIfPresent(Int.self, forKey: .shortest_edge)
            width = try c.decodeIfPresent(Int.self, forKey: .width)
            height = try c.decodeIfPresent(Int.self, forKey: .height)
        }
    }

    /// Defaults are transformers' `CLIPImageProcessor` defaults (OpenAI CLIP at 224 px).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        for step in [Key.do_resize, .do_center_crop, .do_rescale, .do_normalize]
        where try c.decodeIfPresent(Bool.self, forKey: step) == false {
            throw ModelConfigurationError(file: "", key: step.rawValue, problem: "only the full CLIP preprocessing is implemented")
        }
        // PIL's resampling filter numbers: 3 is BICUBIC.
        if let resample = try c.decodeIfPresent(Int.self, forKey: .resample), resample != 3 {
            throw ModelConfigurationError(file: "", key: "resample", problem: "\(resample) is not 3 (bicubic), the only filter implemented")
        }
        if let size = try c.decodeIfPresent(Size.self, forKey: .size) {
            guard let edge = size.shortestEdge else {
                throw ModelConfigurationError(file: "", key: "size",
                                              problem: "expected shortest_edge (resizing to a fixed height and width is not implemented)")
            }
            shortestEdge = edge
        } else {
            shortestEdge = 224
        }
        let crop = try c.decodeIfPresent(Size.self, forKey: .crop_size)
        cropWidth = crop?.width ?? 224
        cropHeight = crop?.height ?? 224
        rescaleFactor = try c.decodeIfPresent(Double.self, forKey: .rescale_factor) ?? 1 / 255
        mean = try c.decodeIfPresent([Float].self, forKey: .image_mean) ?? [0.48145466, 0.4578275, 0.40821073]
        std = try c.decodeIfPresent([Float].self, forKey: .image_std) ?? [0.26862954, 0.26130258, 0.27577711]
        guard mean.count == 3, std.count == 3 else {
            throw ModelConfigurationError(file: "", key: "image_mean", problem: "expected three values (R, G, B) for mean and std")
        }
        guard max(cropWidth, cropHeight) <= shortestEdge else {
            throw ModelConfigurationError(file: "", key: "crop_size",
                                          problem: "\(cropWidth)×\(cropHeight) is larger than the resized shortest edge \(shortestEdge)")
        }
    }

    /// Reads a `preprocessor_config.json`.
    public static func load(from url: URL) throws -> CLIPImageProcessor {
        try ConfigurationFile.decode(CLIPImageProcessor.self, fromFileAt: url)
    }

    /// The model's input for `images`: [batch, 3, cropHeight, cropWidth], as transformers' `pixel_values`.
    public func pixelValues(_ images: [RGBImage]) -> Tensor {
        precondition(!images.isEmpty, "CLIPImageProcessor: no images")
        let plane = cropWidth * cropHeight
        return Tensor(shape: [images.count, 3, cropHeight, cropWidth]) { values in
            for (index, image) in images.enumerated() {
                let cropped = resizedAndCropped(image)
                for pixel in 0..<plane {
                    for channel in 0..<3 {
                        // transformers rescales in double precision, then normalises in single.
                        let rescaled = Float(Double(cropped.pixels[pixel * 3 + channel]) * rescaleFactor)
                        values[(index * 3 + channel) * plane + pixel] = (rescaled - mean[channel]) / std[channel]
                    }
                }
            }
        }
    }

    /// The shortest edge scaled to `shortestEdge` (the other edge truncated, as transformers'
    /// `get_resize_output_image_size`), then the centre window of the crop size (offsets rounded down).
    func resizedAndCropped(_ image: RGBImage) -> RGBImage {
        let (short, long) = (min(image.width, image.height), max(image.width, image.height))
        let scaledLong = Int(Double(shortestEdge * long) / Double(short))
        let (width, height) = image.width <= image.height ? (shortestEdge, scaledLong) : (scaledLong, shortestEdge)
        let resized = image.resizedBicubic(width: width, height: height)
        return resized.cropped(left: (width - cropWidth) / 2, top: (height - cropHeight) / 2,
                               width: cropWidth, height: cropHeight)
    }
}
