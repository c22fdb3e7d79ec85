package com.vhost.api;

/**
 * A VirtIO device could not do what was asked: an invalid life-cycle transition (activate while
 * active, snapshot while awake), a device that needs reset, a request the device failed
 * (virtio-blk status IOERR or UNSUPP), or an argument outside the device's limits (an offset beyond
 * capacity, a length not a multiple of the block size).
 */
public final class VirtioDeviceException extends VhostException {
    private static final long serialVersionUID = 1L;

    public VirtioDeviceException(String message) {
        super(message, null);
    }

    public VirtioDeviceException(String message, Throwable cause) {
        super(message, cause);
    }
}
