extension NoiseSchedule {
    /// One sampler step: the latents at `step + 1` from the latents at `step` and the model's (guided) output
    /// there. Also returns the denoised estimate, which multistep solvers take back as `previousDenoised`;
    /// `noise` is asked for fresh noise only by ancestral samplers. Generation and the trainer's partial denoise
    /// both step through this.
    public func advance(_ latents: Tensor, output: Tensor, step: Int, previousDenoised: Tensor?,
                        noise: () -> Tensor) -> (latents: Tensor, denoised: Tensor) {
        let conversion = conversion(step: step)
        var denoised = latents * Float(conversion.denoisedFromSample) + output * Float(conversion.denoisedFromOutput)
        if let clamp = conversion.denoisedClamp {
            denoised = denoised.clamped(min: Float(clamp.lowerBound), max: Float(clamp.upperBound))
        }
        let update = update(step: step)
        var next = latents * Float(update.sample) + denoised * Float(update.denoised)
        if update.epsilon != 0 {
            let epsilon = latents * Float(conversion.epsilonFromSample) + output * Float(conversion.epsilonFromOutput)
            next = next + epsilon * Float(update.epsilon)
        }
        if update.previousDenoised != 0, let previousDenoised {
            next = next + previousDenoised * Float(update.previousDenoised)
        }
        if update.noise != 0 { next = next + noise() * Float(update.noise) }
        return (next, denoised)
    }
}
