//go:build !linux

package materializer

import "errors"

func allowedCPUs() ([]int, error) { return nil, errors.ErrUnsupported }

func pinProcess(int) (func(), error) { return nil, errors.ErrUnsupported }

func pinThread(int) (func(), error) { return nil, errors.ErrUnsupported }
