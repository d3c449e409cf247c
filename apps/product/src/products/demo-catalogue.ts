/** The catalogue seeded on first start, so the lab has something to browse and order. */
export interface DemoProduct {
  /** Stable across releases: the unique key that makes seeding idempotent. */
  readonly seedKey: string;
  readonly name: string;
  readonly description: string;
  readonly priceCents: number;
  readonly stock: number;
}

export const DEMO_CATALOGUE: readonly DemoProduct[] = [
  {
    seedKey: 'espresso-beans-1kg',
    name: 'Espresso Beans 1 kg',
    description: 'Dark roast arabica and robusta blend, whole beans.',
    priceCents: 2490,
    stock: 120,
  },
  {
    seedKey: 'pour-over-kettle',
    name: 'Pour-Over Kettle',
    description: 'Gooseneck stainless steel kettle, 1 litre, with thermometer.',
    priceCents: 4999,
    stock: 35,
  },
  {
    seedKey: 'ceramic-mug',
    name: 'Ceramic Mug',
    description: 'Hand-glazed stoneware mug, 350 ml, dishwasher safe.',
    priceCents: 1250,
    stock: 200,
  },
  {
    seedKey: 'burr-grinder',
    name: 'Burr Grinder',
    description: 'Conical steel burrs, 40 grind settings, for espresso to French press.',
    priceCents: 12900,
    stock: 18,
  },
  {
    seedKey: 'mechanical-keyboard',
    name: 'Mechanical Keyboard',
    description: 'Tenkeyless, hot-swappable switches, PBT keycaps, USB-C.',
    priceCents: 8950,
    stock: 40,
  },
  {
    seedKey: 'wireless-mouse',
    name: 'Wireless Mouse',
    description: 'Ergonomic mouse with silent clicks and a 70-day battery.',
    priceCents: 3499,
    stock: 75,
  },
  {
    seedKey: 'usb-c-hub',
    name: 'USB-C Hub',
    description: '7-in-1: HDMI 4K, three USB-A, SD and microSD readers, 100 W pass-through.',
    priceCents: 3990,
    stock: 60,
  },
  {
    seedKey: 'noise-cancelling-headphones',
    name: 'Noise-Cancelling Headphones',
    description: 'Over-ear, active noise cancelling, 30-hour battery.',
    priceCents: 19900,
    stock: 25,
  },
  {
    seedKey: 'standing-desk-mat',
    name: 'Standing Desk Mat',
    description: 'Anti-fatigue foam mat, 90 x 50 cm.',
    priceCents: 5900,
    stock: 30,
  },
  {
    seedKey: 'notebook-a5',
    name: 'Notebook A5',
    description: 'Dotted pages, 160 g/m² paper, lay-flat binding.',
    priceCents: 1450,
    stock: 300,
  },
  {
    seedKey: 'fountain-pen',
    name: 'Fountain Pen',
    description: 'Steel fine nib, converter and two ink cartridges included.',
    priceCents: 2800,
    stock: 50,
  },
  {
    seedKey: 'desk-lamp',
    name: 'LED Desk Lamp',
    description: 'Dimmable, adjustable colour temperature, USB charging port.',
    priceCents: 4590,
    stock: 5,
  },
];
