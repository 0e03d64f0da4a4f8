-- The payment service's mirror: one row per attempt to charge an order.
CREATE TABLE IF NOT EXISTS payments (
    payment_id    VARCHAR(80)  NOT NULL,
    attempt       INT          NOT NULL,
    order_id      VARCHAR(64)  NOT NULL,
    status        VARCHAR(32)  NOT NULL,
    amount_paise  BIGINT       NOT NULL,
    vpa           VARCHAR(255) NOT NULL,
    gateway_ref   VARCHAR(80)  NULL,
    reason        VARCHAR(32)  NULL,
    created_at    DATETIME(6)  NOT NULL,
    updated_at    DATETIME(6)  NOT NULL,
    version       INT          NOT NULL,
    PRIMARY KEY (payment_id, attempt),
    KEY payments_order (order_id)
);
