"""Measurements of a (fake-quantized) model: Hessian spectra, loss landscapes, sharpness, gradient conflict."""
