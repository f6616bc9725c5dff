//go:build daascuda

package capi

import (
	"github.com/daas-nas/daas/device"
	"github.com/daas-nas/daas/engine"
)

// libdaas-cuda.so: "cuda" configurations create device engines on the GPU (make lib-cuda).
func init() {
	engine.RegisterDevice(engine.DeviceCUDA)
	newDevice = func(e *engine.Engine, ordinal int) (DeviceEngine, error) {
		g, err := device.NewCUDA(ordinal)
		if err != nil {
			return nil, err
		}
		return device.New(e, g)
	}
}
