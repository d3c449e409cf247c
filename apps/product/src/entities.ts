import { Product } from './products/product.entity.js';
import { StockReservation } from './stock/stock-reservation.entity.js';

/** Every collection of the product database. */
export const PRODUCT_ENTITIES = [Product, StockReservation];
