/**
 * The vhost-user back-end session in layers (implementation, not exported): a
 * {@link com.vhost.user.backend.session.RequestDispatcher} decodes, validates and answers each
 * front-end message and hands it to one method of a
 * {@link com.vhost.user.backend.session.FrontendRequestHandler}; the
 * {@link com.vhost.user.backend.session.BackendHandler} implements that interface over the
 * mapped memory ({@code MemoryTable}), the rings ({@code Vring}), the device model
 * ({@code ModelDriver}) and the device-state pipe transfers ({@code DeviceStateTransfers}).
 * rust-vmm splits the same ground into {@code vhost_user/backend_req_handler.rs} and
 * {@code vhost-user-backend/src/handler.rs}.
 */
package com.vhost.user.backend.session;
