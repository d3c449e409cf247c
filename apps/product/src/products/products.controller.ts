import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { Authenticated, Scope } from '#lab/auth';
import { type Page, toPage } from '#lab/database';
import { CreateProductDto } from './dto/create-product.dto.js';
import { ProductQueryDto } from './dto/product-query.dto.js';
import { UpdateProductDto } from './dto/update-product.dto.js';
import { type ProductResponse, toProductResponse } from './product.response.js';
import { ProductsService } from './products.service.js';

@Controller('products')
export class ProductsController {
  constructor(private readonly products: ProductsService) {}

  /** Public: by name, then id; `q` filters on name or description. */
  @Get()
  async list(@Query() query: ProductQueryDto): Promise<Page<ProductResponse>> {
    const { items, total } = await this.products.list(query);
    return toPage(items, total, query, toProductResponse);
  }

  @Get(':id')
  async findOne(@Param('id') id: string): Promise<ProductResponse> {
    return toProductResponse(await this.products.findById(id));
  }

  @Post()
  @HttpCode(201)
  @Authenticated(Scope.ProductsWrite)
  async create(@Body() body: CreateProductDto): Promise<ProductResponse> {
    return toProductResponse(await this.products.create(body));
  }

  @Patch(':id')
  @Authenticated(Scope.ProductsWrite)
  async update(@Param('id') id: string, @Body() body: UpdateProductDto): Promise<ProductResponse> {
    return toProductResponse(await this.products.update(id, body));
  }

  @Delete(':id')
  @HttpCode(204)
  @Authenticated(Scope.ProductsWrite)
  async remove(@Param('id') id: string): Promise<void> {
    await this.products.remove(id);
  }
}
