-- The order service's mirror: one row per order, one per line.
CREATE TABLE IF NOT EXISTS orders (
    order_id     VARCHAR(64)  NOT NULL PRIMARY KEY,
    user_id      VARCHAR(64)  NOT NULL,
    status       VARCHAR(32)  NOT NULL,
    reason       VARCHAR(32)  NULL,
    total_paise  BIGINT       NOT NULL,
    vpa          VARCHAR(255) NOT NULL,
    created_at   DATETIME(6)  NOT NULL,
    updated_at   DATETIME(6)  NOT NULL,
    version      INT          NOT NULL,
    KEY orders_status (status, updated_at),
    KEY orders_user (user_id)
);
CREATE TABLE IF NOT EXISTS order_items (
    order_id          VARCHAR(64)  NOT NULL,
    sku               VARCHAR(64)  NOT NULL,
    name              VARCHAR(255) NOT NULL,
    unit_price_paise  BIGINT       NOT NULL,
    quantity          INT          NOT NULL,
    line_total_paise  BIGINT       NOT NULL,
    version           INT          NOT NULL,
    PRIMARY KEY (order_id, sku)
);
