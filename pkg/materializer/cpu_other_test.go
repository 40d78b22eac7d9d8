//go:build !linux

package materializer

import "errors"

func pinProcess(int) (func(), error) { return nil, errors.ErrUnsupported }

func pinThread(int) (func(), error) { return nil, errors.ErrUnsupported }
