// SSE2 kernels for vec_amd64.go: two float64 lanes per instruction. Packed IEEE adds, multiplies,
// divides and square roots round each lane exactly as their scalar forms do, and none is fused, so
// every lane's bits equal those of the scalar Go code that each kernel mirrors step for step
// (vec_test.go holds them to it). SSE2 is part of amd64 itself: there is no feature to detect.

#include "textflag.h"

// EXP2 computes X2 = exp(X0) lane by lane for expKernelMin <= x <= 0 (X0 is overwritten), with
// the constants expPairs loads; its steps are expShiftedScalar's:
//   t = x*32/ln2 + roundMagic       n sits in t's low mantissa bits; nf = t - roundMagic
//   u = bits(t) - (bits(roundMagic) - 1023*32) = n + 1023*32, >= 0 for x >= expKernelMin
//   r = (x - nf*ln2By32Hi) - nf*ln2By32Lo
//   q = ((((r/720 + 1/120) r + 1/24) r + 1/6) r + 1/2), then q = r + (r*r) q = e**r - 1
//   j = n & 31 = u & 31 per lane, T = 2^(j/32) from the table, 2^(n>>5) = bits (u >> 5) << 52
//   exp(x) = (T + T q) 2^(n>>5)
#define EXP2 \
	MOVAPD	X0, X1; \
	MULPD	X10, X1; \
	ADDPD	X11, X1; \
	MOVAPD	X1, X2; \
	SUBPD	X11, X2; \
	PSUBQ	X7, X1; \
	MOVAPD	X2, X3; \
	MULPD	X12, X3; \
	SUBPD	X3, X0; \
	MULPD	X13, X2; \
	SUBPD	X2, X0; \
	MOVAPD	X0, X2; \
	MULPD	X6, X2; \
	ADDPD	X14, X2; \
	MULPD	X0, X2; \
	MOVSD	56(R8), X3; \
	UNPCKLPD	X3, X3; \
	ADDPD	X3, X2; \
	MULPD	X0, X2; \
	MOVSD	64(R8), X3; \
	UNPCKLPD	X3, X3; \
	ADDPD	X3, X2; \
	MULPD	X0, X2; \
	MOVSD	72(R8), X3; \
	UNPCKLPD	X3, X3; \
	ADDPD	X3, X2; \
	MOVAPD	X0, X3; \
	MULPD	X0, X3; \
	MULPD	X3, X2; \
	ADDPD	X0, X2; \
	MOVQ	X1, BX; \
	PSHUFD	$0xee, X1, X3; \
	MOVQ	X3, DX; \
	ANDQ	$31, BX; \
	ANDQ	$31, DX; \
	MOVSD	(R9)(BX*8), X4; \
	MOVHPD	(R9)(DX*8), X4; \
	PSRLQ	$5, X1; \
	PSLLQ	$52, X1; \
	MULPD	X4, X2; \
	ADDPD	X4, X2; \
	MULPD	X1, X2

// func expPairs(z []float64, m float64, p []float64, k *expConstants) int
TEXT ·expPairs(SB), NOSPLIT, $0-72
	MOVQ	z_base+0(FP), SI
	MOVQ	z_len+8(FP), CX
	MOVQ	p_base+32(FP), DI
	MOVQ	k+56(FP), R8
	SHRQ	$1, CX              // pairs
	XORQ	AX, AX              // entries done
	MOVSD	m+24(FP), X8
	UNPCKLPD	X8, X8          // m, m
	MOVSD	0(R8), X9
	UNPCKLPD	X9, X9          // the kernel's lower limit of x
	MOVSD	8(R8), X10
	UNPCKLPD	X10, X10        // 32/ln 2
	MOVSD	16(R8), X11
	UNPCKLPD	X11, X11        // roundMagic
	MOVSD	24(R8), X12
	UNPCKLPD	X12, X12        // ln2By32Hi
	MOVSD	32(R8), X13
	UNPCKLPD	X13, X13        // ln2By32Lo
	MOVSD	40(R8), X6
	UNPCKLPD	X6, X6          // 1/720
	MOVSD	48(R8), X14
	UNPCKLPD	X14, X14        // 1/120
	MOVQ	80(R8), X7
	PUNPCKLQDQ	X7, X7      // the bits of roundMagic less the exponent bias times 32
	MOVQ	88(R8), R9          // &exp2By32
loop:
	TESTQ	CX, CX
	JEQ	tail
	MOVUPD	(SI)(AX*8), X0
	SUBPD	X8, X0              // x = z - m
	MOVAPD	X9, X1
	CMPPD	X0, X1, 2           // limit <= x (false for NaN)
	MOVMSKPD	X1, DX
	CMPQ	DX, $3
	JNE	done                    // a lane outside the kernel's range: the caller goes on in Go
	EXP2
	MOVUPD	X2, (DI)(AX*8)
	ADDQ	$2, AX
	DECQ	CX
	JMP	loop
tail: // an odd last entry, in the low lane (MOVSD clears the high one, whose result is not stored)
	MOVQ	z_len+8(FP), CX
	ANDQ	$1, CX
	JEQ	done
	MOVSD	(SI)(AX*8), X0
	SUBPD	X8, X0
	MOVAPD	X9, X1
	CMPPD	X0, X1, 2
	MOVMSKPD	X1, DX
	ANDQ	$1, DX
	JEQ	done
	EXP2
	MOVSD	X2, (DI)(AX*8)
	INCQ	AX
done:
	MOVQ	AX, ret+64(FP)
	RET

// func adamPairs(p, m, v, grad []float64, k *adamConstants) (done int, ok bool)
TEXT ·adamPairs(SB), NOSPLIT, $0-113
	MOVQ	p_base+0(FP), SI
	MOVQ	p_len+8(FP), CX
	MOVQ	m_base+24(FP), DI
	MOVQ	v_base+48(FP), R10
	MOVQ	grad_base+72(FP), R11
	MOVQ	k+96(FP), R8
	SHRQ	$1, CX
	XORQ	AX, AX
	MOVSD	0(R8), X8
	UNPCKLPD	X8, X8          // b1
	MOVSD	8(R8), X9
	UNPCKLPD	X9, X9          // 1 - b1
	MOVSD	16(R8), X10
	UNPCKLPD	X10, X10        // b2
	MOVSD	24(R8), X11
	UNPCKLPD	X11, X11        // 1 - b2
	MOVSD	32(R8), X12
	UNPCKLPD	X12, X12        // weight decay
	MOVSD	40(R8), X13
	UNPCKLPD	X13, X13        // step size
	MOVSD	48(R8), X14
	UNPCKLPD	X14, X14        // 1/sqrt(1 - b2^t)
	MOVSD	56(R8), X7
	UNPCKLPD	X7, X7          // eps
	MOVQ	88(R8), X5
	PUNPCKLQDQ	X5, X5      // all bits but the sign
	PCMPEQL	X6, X6              // every lane within the bounds so far
loop:
	TESTQ	CX, CX
	JEQ	done
	MOVUPD	(SI)(AX*8), X0      // p
	MOVUPD	(R11)(AX*8), X1     // grad
	MOVAPD	X0, X2
	MULPD	X12, X2
	ADDPD	X2, X1              // g = grad + wd*p
	MOVUPD	(DI)(AX*8), X2
	MULPD	X8, X2
	MOVAPD	X1, X3
	MULPD	X9, X3
	ADDPD	X3, X2              // m = b1*m + (1-b1)*g
	MOVUPD	(R10)(AX*8), X3
	MULPD	X10, X3
	MOVAPD	X1, X4
	MULPD	X11, X4
	MULPD	X1, X4
	ADDPD	X4, X3              // v = b2*v + ((1-b2)*g)*g
	SQRTPD	X3, X4
	MULPD	X14, X4
	ADDPD	X7, X4              // sqrt(v)/sqrt(1 - b2^t) + eps
	MOVAPD	X2, X1
	DIVPD	X4, X1
	MULPD	X13, X1
	SUBPD	X1, X0              // p -= step*(m/denominator)
	MOVUPD	X0, (SI)(AX*8)
	MOVUPD	X2, (DI)(AX*8)
	MOVUPD	X3, (R10)(AX*8)
	ANDPD	X5, X0
	MOVSD	64(R8), X4
	UNPCKLPD	X4, X4
	CMPPD	X4, X0, 2           // |p| <= paramLimit
	ANDPD	X0, X6
	ANDPD	X5, X2
	MOVSD	72(R8), X4
	UNPCKLPD	X4, X4
	CMPPD	X4, X2, 2           // |m| <= momentLimit
	ANDPD	X2, X6
	MOVAPD	X3, X0
	MOVSD	80(R8), X4
	UNPCKLPD	X4, X4
	CMPPD	X4, X0, 2           // v <= momentLimit^2
	ANDPD	X0, X6
	XORPD	X4, X4
	CMPPD	X3, X4, 2           // 0 <= v
	ANDPD	X4, X6
	ADDQ	$2, AX
	DECQ	CX
	JMP	loop
done:
	MOVQ	AX, done+104(FP)
	MOVMSKPD	X6, DX
	CMPQ	DX, $3
	SETEQ	ok+112(FP)
	RET
