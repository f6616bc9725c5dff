package engine

import "math"

// The step's two hot loops, the shifted exponentials of a row (expShifted) and the Adam update
// (adamState.update), each have a vector kernel that does a prefix of the work two entries at a
// time and hands back how far it got; the scalar Go loop does the rest. On amd64 the kernels are
// SSE2 (vec_amd64.s); elsewhere they do nothing and the scalar loop does it all. Either way every
// entry gets the same bits: a packed add, multiply, divide or square root rounds each lane as its
// scalar form does, and the kernels perform the scalar code's operations in its order.

// expKernelMin is the lowest x = z - max(z) the exponential kernel takes: above it 2^(n>>5) is a
// normal number (n>>5 >= -996), so the kernel needs neither dexp's range checks nor scale2's
// two-step scaling. Rows reaching below it (logits 690 apart) go on in Go from that pair.
const expKernelMin = -690.0

// expConstants is what the exponential kernel reads, in the order of vec_amd64.s's offsets.
type expConstants struct {
	min, invLn2x32, roundMagic, ln2By32Hi, ln2By32Lo float64
	c720, c120, c24, c6, half                        float64
	magicLessBias                                    uint64 // roundMagic's bits less 1023*32
	table                                            *[32]float64
}

var expKernel = expConstants{
	min: expKernelMin, invLn2x32: invLn2x32, roundMagic: roundMagic, ln2By32Hi: ln2By32Hi, ln2By32Lo: ln2By32Lo,
	c720: 1.0 / 720, c120: 1.0 / 120, c24: 1.0 / 24, c6: 1.0 / 6, half: 0.5,
	magicLessBias: math.Float64bits(roundMagic) - 1023*32, table: &exp2By32,
}

// adamConstants is what the Adam kernel reads, in the order of vec_amd64.s's offsets.
type adamConstants struct {
	b1, c1, b2, c2, wd, stepSize, invBC2, eps float64
	paramLimit, momentLimit, varianceLimit    float64
	absMask                                   uint64
}

func newAdamConstants(a Adam, stepSize, invBC2 float64) adamConstants {
	b1, b2 := a.Betas[0], a.Betas[1]
	return adamConstants{
		b1: b1, c1: 1 - b1, b2: b2, c2: 1 - b2, wd: a.WeightDecay, stepSize: stepSize, invBC2: invBC2, eps: a.Eps,
		paramLimit: paramLimit, momentLimit: momentLimit, varianceLimit: momentLimit * momentLimit,
		absMask: 1<<63 - 1,
	}
}
